import type { Migration } from './migration';

/**
 * Signer pinning (RFC 8520 §13.2): the signer whose MUD file for a URL was
 * accepted (approved or applied through `mud: auto`). A later file for that
 * URL signed by another signer, or unsigned, is held for review
 * (mud/mud-manager.service.ts). Numbered 1262 (issue 12, its MUD leftovers)
 * so that migrations other features add meanwhile do not collide.
 */
export const MUD_SIGNERS_MIGRATION: Migration = {
  version: 1262,
  name: 'mud signers',
  sql: `
create table mud_signers (
  url         text primary key,
  signer      text not null,
  accepted_at timestamptz not null default now()
);
`,
};
