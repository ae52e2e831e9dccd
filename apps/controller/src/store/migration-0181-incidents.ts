import type { Migration } from './migration';

/**
 * Incidents (monitoring/incidents.ts, issue 18): each stored whole as JSON, with
 * the columns the API filters on beside it, so that a restarted controller keeps
 * them and every controller on the database lists the same ones.
 * Numbered 181 (issue 18) so that migrations other features add meanwhile do not collide.
 */
export const INCIDENTS_MIGRATION: Migration = {
  version: 181,
  name: 'incidents',
  sql: `
create table incidents (
  id         bigserial primary key,
  device     text not null,
  opened_at  timestamptz not null,
  updated_at timestamptz not null,
  open       boolean not null,
  body       jsonb not null
);
create index incidents_device on incidents (device, id);
create index incidents_open on incidents (updated_at) where open;
`,
};
