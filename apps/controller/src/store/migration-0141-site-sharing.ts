import type { Migration } from './migration';

/**
 * One site on one database (issue 14): the last flow batch taken from each
 * enforcer's run, so a batch resent after a move to another controller is
 * acknowledged without being counted twice; and the site's CAs (certificate
 * and, sealed under the KEK, key), so every controller on the database signs
 * and verifies with the same ones.
 * Numbered 141 (issue 14) so that migrations other features add meanwhile do not collide.
 */
export const SITE_SHARING_MIGRATION: Migration = {
  version: 141,
  name: 'flow batch sequences and site CAs',
  sql: `
create table flow_sequences (
  enforcer   text primary key,
  run        text not null,
  last_seq   bigint not null,
  updated_at timestamptz not null default now()
);
create table site_cas (
  purpose    text primary key,
  cert_pem   text not null,
  sealed_key jsonb,
  created_at timestamptz not null default now()
);
`,
};
