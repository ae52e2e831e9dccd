import type { Migration } from './migration';

/**
 * The addresses each enforcer serves, when an operator declares them
 * (control/flows/report-guard.ts): what it reports outside them is refused.
 * Numbered 111 (issue 11) so that migrations other features add meanwhile do not collide.
 */
export const ENFORCER_SCOPES_MIGRATION: Migration = {
  version: 111,
  name: 'enforcer report scopes',
  sql: `
create table enforcer_scopes (
  name       text primary key,
  prefixes   jsonb not null,
  actor      text,
  updated_at timestamptz not null default now()
);
`,
};
