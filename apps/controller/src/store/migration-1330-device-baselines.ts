import type { Migration } from './migration';

/**
 * One site in the database (issue 14): each device's anomaly baseline (the
 * detector's state, monitoring/baseline-codec.ts), written behind by the
 * controller serving the device, loaded at start and on a device's first flow
 * to a controller that has no state for it (the other one was serving it).
 * `last_seen` (Unix ms, the device's last flow) keeps a stale controller from
 * overwriting a newer baseline; `updated_at` (the database's clock) is what the
 * other controllers pull by, to drop a copy another controller has moved past.
 */
export const DEVICE_BASELINES_MIGRATION: Migration = {
  version: 1330,
  name: 'device baselines',
  sql: `
create table device_baselines (
  device     text primary key,
  state      bytea not null,
  last_seen  bigint not null,
  updated_at timestamptz not null default now()
);
create index device_baselines_updated on device_baselines (updated_at);
create index device_baselines_last_seen on device_baselines (last_seen);
`,
};
