import type { Migration } from './migration';

/**
 * What the MUD manager (mud/mud-manager.service.ts) proposes for each device
 * that announced a MUD URL: the file it fetched (kept for its cache-validity),
 * who signed it, the documents it became, and whether they were applied.
 * Numbered 125 (issue 12) so that migrations other features add meanwhile do not collide.
 */
export const MUD_PROPOSALS_MIGRATION: Migration = {
  version: 125,
  name: 'mud proposals',
  sql: `
create table mud_proposals (
  device      text primary key,
  mac         text,
  address     text,
  enforcer    text,
  url         text not null,
  source      text not null,
  status      text not null check (status in ('pending', 'applied', 'failed')),
  mud         jsonb,
  signed_by   text,
  documents   jsonb not null default '[]'::jsonb,
  notes       jsonb not null default '[]'::jsonb,
  error       text,
  fetched_at  timestamptz,
  valid_until timestamptz,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index mud_proposals_url on mud_proposals (url, valid_until);
`,
};
