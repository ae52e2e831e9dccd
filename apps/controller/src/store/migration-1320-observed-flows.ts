import type { Migration } from './migration';

/**
 * One site in the database (issue 14), continued: what `recommend` and
 * `report unused` read (monitoring/observed-flows.ts) — the distinct observed
 * (source segment, destination, protocol, port, verdict) tuples and when each
 * policy rule last decided packets — written behind by every controller as
 * additive deltas like the unknown devices (migration 1300), so that a restart
 * keeps them and `report unused` on one controller does not call a rule
 * unused that another saw used. Times seen are Unix ms; `updated_at` (the
 * database's clock) is what a controller pulls by; observation_start is
 * since when the answers can know (their observedSince).
 *
 * No index but the key, and room left in each page: every row may change
 * every flush (each tuple's counters), and an index on updated_at or
 * last_seen would make each of those updates write every index and a new
 * row version elsewhere; without them PostgreSQL updates in place (HOT).
 * Measured at 50,000 rows a flush, this halves the flush on both drivers; a
 * pull or a trim then scans at most the table's bound (50,000 rows).
 */
export const OBSERVED_FLOWS_MIGRATION: Migration = {
  version: 1320,
  name: 'observed flow tuples and rule uses',
  sql: `
create table observed_tuples (
  src_segment text not null,
  dst_segment text not null,
  protocol    integer not null,
  port        integer not null,
  verdict     text not null,
  reason      text not null,
  packets     bigint not null default 0,
  bytes       bigint not null default 0,
  first_seen  bigint not null,
  last_seen   bigint not null,
  sample      text not null,
  updated_at  timestamptz not null default now(),
  primary key (src_segment, dst_segment, protocol, port, verdict)
) with (fillfactor = 70);

create table rule_uses (
  policy     text not null,
  action     text not null check (action in ('allow', 'deny')),
  rule_index integer not null,
  packets    bigint not null default 0,
  first_used bigint not null,
  last_used  bigint not null,
  updated_at timestamptz not null default now(),
  primary key (policy, action, rule_index)
) with (fillfactor = 70);

-- when the site began observing (the earliest start of a controller that flushed): the answers' observedSince
create table observation_start (
  site    boolean primary key default true check (site),
  started bigint not null
);
`,
};
