/**
 * The site's traffic-in-clear tallies (migration 1300), written behind by
 * every controller like the unknown devices (unknown-devices.repository.ts):
 * one transaction a flush adds this controller's deltas — flows and bytes
 * per class summed, refusals and the overflow count summed, last seen
 * widened, destinations in clear merged newest first (at most `maxClearTo`),
 * addresses merged (at most `maxAddresses`) — trims the sources to the `maxSources`
 * most recently seen, and reads back the rows changed since the caller's last pull.
 * The tallies' meaning belongs to plaintext/encryption-stats.ts.
 */
import { iso } from './rows';
import type { SqlDatabase } from './sql';
import { chunks, dbNow, type SyncResult } from './unknown-devices.repository';

export type TallyScope = 'total' | 'segment' | 'source';

export interface TallyRow {
  scope: TallyScope;
  /** '' for the total, the segment's name, `device:NAME` or `address:IP` for a source. */
  key: string;
  device: string | null;
  segment: string | null;
  addresses: string[];
  byClass: Record<string, { flows: number; bytes: number }>;
  refused: number;
  /** Unix ms. */
  lastSeen: number;
  /** Newest first. */
  clearTo: string[];
  /** The total's only: flow records whose source was beyond the sources kept. */
  overflow: number;
  /** When the site began counting this tally (set by the store; ignored in deltas). */
  createdAt?: string;
}

export interface TallySync {
  changes: TallyRow[];
  /** Read back the rows changed since `since` (null: every row); false: write only (nobody else writes). */
  pull: boolean;
  since: Date | null;
  maxSources: number;
  maxClearTo: number;
  maxAddresses: number;
}

/**
 * Distinct text elements of two jsonb arrays, `first`'s before `second`'s, in
 * order, at most `limit`; `stored` as it is when `keepWhen` (the usual case: the
 * steady state brings new counts, rarely new names).
 */
const mergeList = (first: string, second: string, limit: string, keepWhen: string, stored: string) => `case when ${keepWhen} then ${stored} else
  (select coalesce(jsonb_agg(v order by o), '[]'::jsonb) from (
    select v, min(o) as o from (
      select v, o from jsonb_array_elements_text(${first}) with ordinality a(v, o)
      union all
      select v, o + 1000000 from jsonb_array_elements_text(${second}) with ordinality b(v, o)
    ) t group by v order by min(o) limit ${limit}) s) end`;

const UPSERT = `
insert into plaintext_tallies as p (scope, key, device, segment, addresses, by_class, refused, last_seen, clear_to, overflow, updated_at)
select d.scope, d.key, d.device, d.segment, coalesce(d.addresses, '[]'::jsonb), coalesce(d."byClass", '{}'::jsonb), d.refused, d."lastSeen",
       coalesce(d."clearTo", '[]'::jsonb), d.overflow, now()
  from jsonb_to_recordset($1::jsonb) as d(scope text, key text, device text, segment text, addresses jsonb, "byClass" jsonb, refused bigint,
                                          "lastSeen" bigint, "clearTo" jsonb, overflow bigint)
 order by d.scope collate "C", d.key collate "C"
on conflict (scope, key) do update set
  device    = coalesce(excluded.device, p.device),
  segment   = coalesce(excluded.segment, p.segment),
  addresses = ${mergeList('p.addresses', 'excluded.addresses', '$3', 'excluded.addresses <@ p.addresses', 'p.addresses')},
  by_class  = (select coalesce(jsonb_object_agg(k, jsonb_build_object('flows', f, 'bytes', b)), '{}'::jsonb) from (
                 select k, sum(f) as f, sum(b) as b from (
                   select key as k, (value->>'flows')::bigint as f, (value->>'bytes')::bigint as b from jsonb_each(p.by_class)
                   union all
                   select key, (value->>'flows')::bigint, (value->>'bytes')::bigint from jsonb_each(excluded.by_class)
                 ) c group by k) s),
  refused   = p.refused + excluded.refused,
  last_seen = greatest(p.last_seen, excluded.last_seen),
  clear_to  = ${mergeList('excluded.clear_to', 'p.clear_to', '$2', "excluded.clear_to = '[]'::jsonb", 'p.clear_to')},
  overflow  = p.overflow + excluded.overflow,
  updated_at = now()`;

const COLUMNS = `scope, key, device, segment, addresses, by_class as "byClass", refused::float8 as refused, last_seen::float8 as "lastSeen",
  clear_to as "clearTo", overflow::float8 as overflow, created_at as "createdAt"`;

export class PlaintextTallyRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Whether other controllers may write these rows too (a shared PostgreSQL). */
  get shared(): boolean {
    return this.db.driver === 'postgres';
  }

  /** One flush, one transaction (see the file's comment). */
  sync(s: TallySync): Promise<SyncResult<TallyRow>> {
    return this.db.transaction(async (tx) => {
      const at = await dbNow(tx);
      if (s.changes.length) {
        // In key order (no deadlock between two controllers' flushes), a chunk a statement (unknown-devices.repository.ts).
        const key = (r: TallyRow) => `${r.scope}\u0000${r.key}`;
        const sorted = [...s.changes].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
        for await (const part of chunks(sorted)) await tx.query(UPSERT, [JSON.stringify(part), s.maxClearTo, s.maxAddresses]);
        await tx.query(
          "delete from plaintext_tallies where scope = 'source' and key in (select key from plaintext_tallies where scope = 'source' order by last_seen desc offset $1)",
          [s.maxSources],
        );
      }
      const rows = !s.pull
        ? []
        : s.since
        ? await tx.query<TallyRow>(`select ${COLUMNS} from plaintext_tallies where updated_at >= $1::timestamptz order by last_seen desc`, [s.since.toISOString()])
        : await tx.query<TallyRow>(`select ${COLUMNS} from plaintext_tallies order by last_seen desc`);
      return { rows: rows.map(decodeRow), at };
    });
  }
}

const json = <T>(v: unknown, empty: T): T => {
  const x = typeof v === 'string' ? JSON.parse(v) : v;
  return (x ?? empty) as T;
};

function decodeRow(r: TallyRow): TallyRow {
  const byClass: TallyRow['byClass'] = {};
  for (const [cls, c] of Object.entries(json<Record<string, { flows: unknown; bytes: unknown }>>(r.byClass, {}))) byClass[cls] = { flows: Number(c.flows), bytes: Number(c.bytes) };
  return {
    scope: r.scope,
    key: r.key,
    device: r.device ?? null,
    segment: r.segment ?? null,
    addresses: json<string[]>(r.addresses, []),
    byClass,
    refused: Number(r.refused),
    lastSeen: Number(r.lastSeen),
    clearTo: json<string[]>(r.clearTo, []),
    overflow: Number(r.overflow),
    createdAt: r.createdAt ? iso(r.createdAt) : undefined,
  };
}
