import type { Migration } from './migration';

/**
 * Which controller of the site serves which enforcer's bundle stream (issue 14,
 * fleet status): each controller keeps its own rows (one per enforcer with an
 * open watch there) and refreshes them while they stay open, so `cordon get
 * enforcers` and the per-enforcer metrics of any controller say where every
 * enforcer is connected. A row not refreshed for a while (its controller died)
 * no longer counts (control/stream-registry.ts).
 * Numbered 1280 (issue 14, fleet status) so that migrations other features add meanwhile do not collide.
 */
export const ENFORCER_STREAMS_MIGRATION: Migration = {
  version: 1280,
  name: 'enforcer streams by controller',
  sql: `
create table enforcer_streams (
  enforcer     text not null,
  controller   text not null,
  opened_at    timestamptz not null default now(),
  refreshed_at timestamptz not null default now(),
  primary key (enforcer, controller)
);
create index enforcer_streams_controller on enforcer_streams (controller);
`,
};
