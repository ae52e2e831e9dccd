import type { Migration } from './migration';

/**
 * One site in the database (issue 14): the unknown devices (monitoring/discovery.ts)
 * and the traffic-in-clear tallies (plaintext/encryption-stats.ts), written behind
 * by every controller as additive deltas (counters summed, times widened, lists
 * merged in SQL), so that a restarted controller keeps them and every controller
 * on the database lists what the others learned. `updated_at` (the writer's
 * transaction time, one clock: the database's) is what a controller pulls by.
 * Times seen are Unix ms, as the flow records carry them.
 * Numbered 1300 (issue 14) so that migrations other features add meanwhile do not collide.
 */
export const MONITORING_STATE_MIGRATION: Migration = {
  version: 1300,
  name: 'unknown devices and plaintext tallies',
  sql: `
create table unknown_devices (
  address    text primary key,
  mac        text,
  interface  text,
  enforcer   text not null,
  segment    text not null,
  first_seen bigint not null,
  last_seen  bigint not null,
  flows      bigint not null default 0,
  packets    bigint not null default 0,
  bytes      bigint not null default 0,
  denied     bigint not null default 0,
  tried      jsonb not null default '[]'::jsonb,
  updated_at timestamptz not null default now()
);
create index unknown_devices_updated on unknown_devices (updated_at);
create index unknown_devices_last_seen on unknown_devices (last_seen);

-- scope 'total' (key ''), 'segment' (key: its name), 'source' (key: device:NAME or address:IP)
create table plaintext_tallies (
  scope      text not null check (scope in ('total', 'segment', 'source')),
  key        text not null,
  device     text,
  segment    text,
  addresses  jsonb not null default '[]'::jsonb,
  by_class   jsonb not null default '{}'::jsonb,
  refused    bigint not null default 0,
  last_seen  bigint not null default 0,
  clear_to   jsonb not null default '[]'::jsonb,
  overflow   bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (scope, key)
);
create index plaintext_tallies_updated on plaintext_tallies (updated_at);
create index plaintext_tallies_sources on plaintext_tallies (last_seen) where scope = 'source';
`,
};
