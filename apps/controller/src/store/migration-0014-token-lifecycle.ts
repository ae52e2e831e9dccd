import type { Migration } from './migration';

/**
 * Tokens get a life cycle (issue 11, holes 10 and 14):
 *  - enforcer:     the enforcer name an enrollment token may take; null = only a
 *                  name no enforcer has ever had;
 *  - replace:      the token may take that name from a live enforcer, whose
 *                  certificates are then revoked;
 *  - used_by:      the name an enrollment token was spent on;
 *  - last_used_at: when an API token last authenticated a request (written at most
 *                  once a minute per token and controller, see tokens.service.ts);
 *  - bootstrap:    the admin token written to DATA_DIR/admin.token, which
 *                  `cordon token rotate-admin` replaces.
 * The first admin token (name 'admin', made by ensureAdminToken) is the bootstrap one.
 * Bootstrap tokens made before this migration never expired; they now expire 90
 * days from the migration, like any API token, so none lives for ever.
 */
export const TOKEN_LIFECYCLE_MIGRATION: Migration = {
  version: 14,
  name: 'token binding, replace, last use, bootstrap admin token',
  sql: `
alter table tokens add column enforcer text;
alter table tokens add column replace boolean not null default false;
alter table tokens add column used_by text;
alter table tokens add column last_used_at timestamptz;
alter table tokens add column bootstrap boolean not null default false;
update tokens set bootstrap = true where kind = 'api' and role = 'admin' and name = 'admin';
update tokens set expires_at = now() + interval '90 days' where kind = 'api' and expires_at is null;
`,
};
