import type { Migration } from './migration';

/**
 * What each enforcer has learned from DNS answers (ReportFqdn): the whole list
 * as last reported, one row per enforcer, replaced at each report, so that any
 * controller of the site answers `cordon get fqdn`. Numbered 1270 (issue 12,
 * visibility by name).
 */
export const LEARNED_NAMES_MIGRATION: Migration = {
  version: 1270,
  name: 'learned names',
  sql: `
create table learned_names (
  enforcer    text primary key,
  reported_at timestamptz not null default now(),
  total       integer not null,
  names       jsonb not null
);
`,
};
