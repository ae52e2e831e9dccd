/**
 * Schema migrations, numbered and applied in order inside one transaction each.
 * Both drivers (PGlite and PostgreSQL) run exactly these statements: the SQL is
 * PostgreSQL 15 everywhere, so what works embedded works on a shared server.
 * Never edit a released migration; append a new one.
 */
import { CREDENTIALS_MIGRATION } from './migration-0007-credentials';
import { BUNDLE_DELTAS_MIGRATION } from './migration-0008-bundle-deltas';
import { TOKEN_LIFECYCLE_MIGRATION } from './migration-0014-token-lifecycle';
import { ENFORCER_SCOPES_MIGRATION } from './migration-0111-enforcer-scopes';
import { MUD_PROPOSALS_MIGRATION } from './migration-0125-mud-proposals';
import { SITE_SHARING_MIGRATION } from './migration-0141-site-sharing';
import { ENFORCER_LABELS_MIGRATION } from './migration-1152-enforcer-labels';
import { INCIDENTS_MIGRATION } from './migration-0181-incidents';
import { MUD_SIGNERS_MIGRATION } from './migration-1262-mud-signers';
import { LEARNED_NAMES_MIGRATION } from './migration-1270-learned-names';
import { CA_LISTS_MIGRATION } from './migration-1290-ca-lists';
import { ENFORCER_STREAMS_MIGRATION } from './migration-1280-enforcer-streams';
import { MONITORING_STATE_MIGRATION } from './migration-1300-monitoring-state';
import { OBSERVED_FLOWS_MIGRATION } from './migration-1320-observed-flows';
import { DEVICE_BASELINES_MIGRATION } from './migration-1330-device-baselines';
import { FLOW_STATE_MARKS_MIGRATION } from './migration-1340-flow-state-marks';

import type { Migration } from './migration';
import type { SqlDatabase } from './sql';


export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
create table documents (
  kind        text not null,
  name        text not null,
  api_version text not null default 'cordon/v1',
  labels      jsonb not null default '{}'::jsonb,
  spec        jsonb not null,
  version     integer not null default 1,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  primary key (kind, name)
);

-- A segment's identity number is never reused, even after the segment is deleted:
-- enforcers and flow records keep referring to old numbers for a while.
create table identities (
  segment    text primary key,
  id         integer not null unique,
  created_at timestamptz not null default now()
);

create table bundles (
  generation integer primary key,
  hash       text not null,
  created_at timestamptz not null default now(),
  bundle     jsonb not null
);

create table tokens (
  id         serial primary key,
  hash       text not null unique,
  kind       text not null check (kind in ('api', 'enrollment')),
  role       text not null check (role in ('viewer', 'operator', 'admin', 'enforcer')),
  name       text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  used_at    timestamptz,
  revoked    boolean not null default false
);

create table audit (
  id        integer primary key,
  at        text not null,
  actor     text not null,
  source    text,
  action    text not null,
  target    text,
  diff      jsonb,
  prev_hash text not null,
  hash      text not null
);

-- The chain head is kept apart so that removing the newest entries is noticed too.
create table audit_head (
  one     boolean primary key default true check (one),
  last_id integer not null,
  hash    text not null
);

create table enforcers (
  name        text primary key,
  enrolled_at timestamptz not null default now(),
  last_seen   timestamptz,
  generation  integer,
  status      jsonb not null default '{}'::jsonb,
  cert_serial text,
  revoked     boolean not null default false
);

create table quarantined (
  device text primary key,
  reason text,
  actor  text,
  at     timestamptz not null default now()
);
`,
  },
  {
    // Numbered 6 (issue 6) so that migrations other features add meanwhile do not collide.
    version: 6,
    name: 'security events (monitoring, SIEM export)',
    sql: `
create table security_events (
  id       bigserial primary key,
  at       timestamptz not null,
  type     text not null,
  action   text not null,
  severity text not null,
  device   text,
  body     jsonb not null
);
create index security_events_type on security_events (type, id);
create index security_events_device on security_events (device, id);
`,
  },
  CREDENTIALS_MIGRATION,
  BUNDLE_DELTAS_MIGRATION,
  TOKEN_LIFECYCLE_MIGRATION,
  ENFORCER_SCOPES_MIGRATION,
  MUD_PROPOSALS_MIGRATION,
  SITE_SHARING_MIGRATION,
  ENFORCER_LABELS_MIGRATION,
  INCIDENTS_MIGRATION,
  MUD_SIGNERS_MIGRATION,
  LEARNED_NAMES_MIGRATION,
  CA_LISTS_MIGRATION,
  ENFORCER_STREAMS_MIGRATION,
  MONITORING_STATE_MIGRATION,
  OBSERVED_FLOWS_MIGRATION,
  DEVICE_BASELINES_MIGRATION,
  FLOW_STATE_MARKS_MIGRATION,
];

/** Applies pending migrations under the advisory lock `lock`; safe when several controllers start at once. */
export async function migrate(db: SqlDatabase, lock: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [lock]);
    await tx.query('create table if not exists schema_migrations (version integer primary key, name text, applied_at timestamptz not null default now())');
    const done = new Set((await tx.query<{ version: number }>('select version from schema_migrations')).map((r) => Number(r.version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('insert into schema_migrations (version, name) values ($1, $2)', [m.version, m.name]);
    }
  });
}
