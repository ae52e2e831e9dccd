/**
 * The site's observed flow tuples and rule uses (migration 1320), written
 * behind by every controller like the unknown devices
 * (unknown-devices.repository.ts): each flush is one transaction that adds
 * this controller's deltas — packets and bytes summed, first/last seen
 * widened; a tuple keeps the reason and sample it was first stored with —
 * trims each table to its `max` most recently seen (after a flush that added
 * rows), and reads back every row
 * changed since the caller's last pull (and, at a start, since when the site
 * observes). The rows' meaning belongs to
 * monitoring/observed-flows.ts; times are Unix ms.
 */
import type { ObservedFlow, RuleUse } from '../monitoring/observed-flows';
import type { SqlDatabase, SqlExecutor } from './sql';
import { chunks, dbNow } from './unknown-devices.repository';

export interface ObservedFlowsSync {
  /** Deltas since the last flush: counters as increments, times as seen. */
  tuples: ObservedFlow[];
  rules: RuleUse[];
  /** Read back rows; false: write only (nobody else writes: the embedded store once loaded). */
  pull: boolean;
  /** Rows changed at or after this time (the database's clock) come back; null: every row (a start). */
  since: Date | null;
  maxTuples: number;
  maxRules: number;
  /** This controller's start (Unix ms): at a start (`since` null) the site's start becomes the earlier of it and the stored one. */
  startedMs: number;
}

export interface ObservedFlowsRows {
  tuples: ObservedFlow[];
  rules: RuleUse[];
  /** Since when the site observes (Unix ms); at a start only, else null. */
  startedMs: number | null;
}

/**
 * How many rows the upsert added (a row version no transaction replaced yet:
 * xmax 0): the table is trimmed to its bound only after a flush that added
 * some, which the steady state (known tuples, new counts) does not.
 * json, not jsonb: parsed once, as read (measured ~10 % faster here).
 */
const COUNT_INSERTED = 'select count(*) filter (where inserted)::int as inserted from up';

const UPSERT_TUPLES = `
with up as (
insert into observed_tuples as o (src_segment, dst_segment, protocol, port, verdict, reason, packets, bytes, first_seen, last_seen, sample, updated_at)
select d."srcSegment", d."dstSegment", d.protocol, d.port, d.verdict, d.reason, d.packets, d.bytes, d."firstSeen", d."lastSeen", d.sample, now()
  from json_to_recordset($1::json) as d("srcSegment" text, "dstSegment" text, protocol integer, port integer, verdict text, reason text,
                                        packets bigint, bytes bigint, "firstSeen" bigint, "lastSeen" bigint, sample text)
 order by d."srcSegment" collate "C", d."dstSegment" collate "C", d.protocol, d.port, d.verdict collate "C"
on conflict (src_segment, dst_segment, protocol, port, verdict) do update set
  packets    = o.packets + excluded.packets,
  bytes      = o.bytes + excluded.bytes,
  first_seen = least(o.first_seen, excluded.first_seen),
  last_seen  = greatest(o.last_seen, excluded.last_seen),
  updated_at = now()
returning xmax = 0 as inserted)
${COUNT_INSERTED}`;

const UPSERT_RULES = `
with up as (
insert into rule_uses as r (policy, action, rule_index, packets, first_used, last_used, updated_at)
select d.policy, d.action, d.index, d.packets, d."firstUsed", d."lastUsed", now()
  from json_to_recordset($1::json) as d(policy text, action text, index integer, packets bigint, "firstUsed" bigint, "lastUsed" bigint)
 order by d.policy collate "C", d.action collate "C", d.index
on conflict (policy, action, rule_index) do update set
  packets    = r.packets + excluded.packets,
  first_used = least(r.first_used, excluded.first_used),
  last_used  = greatest(r.last_used, excluded.last_used),
  updated_at = now()
returning xmax = 0 as inserted)
${COUNT_INSERTED}`;

const TUPLE_COLUMNS = `src_segment as "srcSegment", dst_segment as "dstSegment", protocol, port, verdict, reason, packets::float8 as packets,
  bytes::float8 as bytes, first_seen::float8 as "firstSeen", last_seen::float8 as "lastSeen", sample`;
const RULE_COLUMNS = `policy, action, rule_index as index, packets::float8 as packets, first_used::float8 as "firstUsed", last_used::float8 as "lastUsed"`;

/** Field by field, as the SQL orders them (numbers as numbers), so two controllers' flushes lock shared rows in one order. */
const byFields =
  <T>(...fields: (keyof T)[]) =>
  (x: T, y: T): number => {
    for (const f of fields) if (x[f] !== y[f]) return x[f] < y[f] ? -1 : 1;
    return 0;
  };
const tupleOrder = byFields<ObservedFlow>('srcSegment', 'dstSegment', 'protocol', 'port', 'verdict');
const ruleOrder = byFields<RuleUse>('policy', 'action', 'index');

export class ObservedFlowRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Whether other controllers may write these rows too (a shared PostgreSQL). */
  get shared(): boolean {
    return this.db.driver === 'postgres';
  }

  /** One flush, one transaction (see the file's comment): the rows changed since `since` and the database's time at the flush's start (the next `since`, less an overlap). */
  sync(s: ObservedFlowsSync): Promise<{ rows: ObservedFlowsRows; at: Date }> {
    return this.db.transaction(async (tx) => {
      const at = await dbNow(tx);
      // In key order (no deadlock between two controllers' flushes), a chunk a statement (unknown-devices.repository.ts).
      if (await upsert(tx, UPSERT_TUPLES, [...s.tuples].sort(tupleOrder).map(tupleDelta))) {
        await tx.query(
          `delete from observed_tuples where (src_segment, dst_segment, protocol, port, verdict) in (
             select src_segment, dst_segment, protocol, port, verdict from observed_tuples order by last_seen desc offset $1)`,
          [s.maxTuples],
        );
      }
      if (await upsert(tx, UPSERT_RULES, [...s.rules].sort(ruleOrder).map(ruleDelta))) {
        await tx.query(
          'delete from rule_uses where (policy, action, rule_index) in (select policy, action, rule_index from rule_uses order by last_used desc offset $1)',
          [s.maxRules],
        );
      }
      if (!s.pull) return { rows: { tuples: [], rules: [], startedMs: null }, at };
      const started = s.since
        ? null
        : Number((await tx.query<{ started: unknown }>(
            `insert into observation_start as o (site, started) values (true, $1) on conflict (site) do update set started = least(o.started, excluded.started)
             returning started::float8 as started`,
            [s.startedMs],
          ))[0].started);
      const changed = s.since ? 'where updated_at >= $2::timestamptz' : '';
      const params = (max: number) => (s.since ? [max, s.since.toISOString()] : [max]);
      const tuples = await tx.query<ObservedFlow>(`select ${TUPLE_COLUMNS} from observed_tuples ${changed} order by last_seen desc limit $1`, params(s.maxTuples));
      const rules = await tx.query<RuleUse>(`select ${RULE_COLUMNS} from rule_uses ${changed} order by last_used desc limit $1`, params(s.maxRules));
      return { rows: { tuples: tuples.map(decodeTuple), rules: rules.map(decodeRule), startedMs: started }, at };
    });
  }
}

/** Writes `rows` a chunk a statement; how many were new. */
async function upsert(tx: SqlExecutor, statement: string, rows: readonly object[]): Promise<number> {
  let inserted = 0;
  for await (const part of chunks(rows)) inserted += Number((await tx.query<{ inserted: unknown }>(statement, [JSON.stringify(part)]))[0].inserted);
  return inserted;
}

/** Only the columns the statement reads, so that nothing else of the caller's object travels. */
function tupleDelta(f: ObservedFlow) {
  return { srcSegment: f.srcSegment, dstSegment: f.dstSegment, protocol: f.protocol, port: f.port, verdict: f.verdict, reason: f.reason, packets: f.packets, bytes: f.bytes, firstSeen: f.firstSeen, lastSeen: f.lastSeen, sample: f.sample };
}
function ruleDelta(u: RuleUse) {
  return { policy: u.policy, action: u.action, index: u.index, packets: u.packets, firstUsed: u.firstUsed, lastUsed: u.lastUsed };
}

function decodeTuple(r: ObservedFlow): ObservedFlow {
  return { ...r, protocol: Number(r.protocol), port: Number(r.port), packets: Number(r.packets), bytes: Number(r.bytes), firstSeen: Number(r.firstSeen), lastSeen: Number(r.lastSeen) };
}
function decodeRule(r: RuleUse): RuleUse {
  return { policy: r.policy, action: r.action, index: Number(r.index), packets: Number(r.packets), firstUsed: Number(r.firstUsed), lastUsed: Number(r.lastUsed) };
}
