import type { Migration } from './migration';

/**
 * Bundles stop being stored whole for every generation: at site scale one is
 * ~16 MB of JSON, and a one-policy apply wrote all of it. A generation now
 * keeps the gzipped delta from the generation before it (a few hundred bytes
 * for a one-policy change); full gzipped snapshots are written every so many
 * generations (and whenever no delta base is at hand) in bundle_snapshots.
 * Rows written before this migration keep their jsonb `bundle` and serve as
 * snapshots themselves. See bundle-codec.ts for reading a generation back.
 *
 * documents_version counts statements that changed documents (a trigger, so
 * no writer can forget it): a controller keeps the documents in memory and
 * re-reads them only when the count moved (store.ts, listDocuments).
 */
export const BUNDLE_DELTAS_MIGRATION: Migration = {
  version: 8,
  name: 'bundle deltas and compressed snapshots; documents version',
  sql: `
alter table bundles alter column bundle drop not null;
alter table bundles add column delta bytea;
create table bundle_snapshots (
  generation integer primary key references bundles (generation),
  data       bytea not null
);
-- Rows from before this migration (whole jsonb bundles) are snapshots too.
create index bundles_jsonb on bundles (generation) where bundle is not null;

create table documents_version (
  one boolean primary key default true check (one),
  v   bigint not null
);
insert into documents_version (one, v) values (true, 0);
create function cordon_documents_bump() returns trigger language plpgsql as $$
begin
  update documents_version set v = v + 1;
  return null;
end
$$;
create trigger documents_bump after insert or update or delete or truncate on documents
  for each statement execute function cordon_documents_bump();
`,
};
