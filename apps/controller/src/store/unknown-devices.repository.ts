/**
 * Unknown devices of the site (migration 1300), written behind by every
 * controller: each flush is one transaction that adds this controller's
 * deltas (counters summed, first/last seen widened, targets merged in order,
 * at most `maxTargets`), deletes the addresses a Device now claims, trims the
 * table to the `max` most recently seen, and reads back every row changed
 * since the caller's last pull (its own deltas folded in with the others').
 * The row's shape belongs to monitoring/discovery.ts; times are Unix ms.
 */
import { iso } from './rows';
import type { SqlDatabase, SqlExecutor } from './sql';

export interface UnknownDeviceRow {
  address: string;
  mac: string | null;
  interface: string | null;
  enforcer: string;
  segment: string;
  firstMs: number;
  lastMs: number;
  flows: number;
  packets: number;
  bytes: number;
  denied: number;
  tried: string[];
}

/** What a flush sends: deltas (counters since the last flush, targets new since), the addresses claimed, the rows wanted back. */
export interface UnknownDeviceSync {
  changes: UnknownDeviceRow[];
  dropped: string[];
  /** Read back rows; false: write only (nobody else writes: the embedded store once loaded). */
  pull: boolean;
  /** Rows changed at or after this time (the database's clock) come back; null: every row (a start). */
  since: Date | null;
  max: number;
  maxTargets: number;
}

export interface SyncResult<R> {
  /** The rows changed since `since`, most recently seen first. */
  rows: R[];
  /** The database's time at the start of this flush: the next `since`, less an overlap. */
  at: Date;
}

const UPSERT = `
insert into unknown_devices as u (address, mac, interface, enforcer, segment, first_seen, last_seen, flows, packets, bytes, denied, tried, updated_at)
select d.address, d.mac, d.interface, d.enforcer, d.segment, d."firstMs", d."lastMs", d.flows, d.packets, d.bytes, d.denied, coalesce(d.tried, '[]'::jsonb), now()
  from jsonb_to_recordset($1::jsonb) as d(address text, mac text, interface text, enforcer text, segment text, "firstMs" bigint, "lastMs" bigint,
                                          flows bigint, packets bigint, bytes bigint, denied bigint, tried jsonb)
 order by d.address collate "C"
on conflict (address) do update set
  mac        = coalesce(excluded.mac, u.mac),
  interface  = coalesce(excluded.interface, u.interface),
  enforcer   = excluded.enforcer,
  segment    = excluded.segment,
  first_seen = least(u.first_seen, excluded.first_seen),
  last_seen  = greatest(u.last_seen, excluded.last_seen),
  flows      = u.flows + excluded.flows,
  packets    = u.packets + excluded.packets,
  bytes      = u.bytes + excluded.bytes,
  denied     = u.denied + excluded.denied,
  tried      = case when excluded.tried <@ u.tried then u.tried else (select coalesce(jsonb_agg(v order by o), '[]'::jsonb) from (
                  select v, min(o) as o from (
                    select v, o from jsonb_array_elements_text(u.tried) with ordinality a(v, o)
                    union all
                    select v, o + 1000000 from jsonb_array_elements_text(excluded.tried) with ordinality b(v, o)
                  ) t group by v order by min(o) limit $2) s) end,
  updated_at = now()`;

const COLUMNS = `address, mac, interface, enforcer, segment, first_seen::float8 as "firstMs", last_seen::float8 as "lastMs",
  flows::float8 as flows, packets::float8 as packets, bytes::float8 as bytes, denied::float8 as denied, tried`;

export class UnknownDeviceRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Whether other controllers may write these rows too (a shared PostgreSQL). */
  get shared(): boolean {
    return this.db.driver === 'postgres';
  }

  /** One flush, one transaction (see the file's comment). */
  sync(s: UnknownDeviceSync): Promise<SyncResult<UnknownDeviceRow>> {
    return this.db.transaction(async (tx) => {
      const at = await dbNow(tx);
      if (s.dropped.length) await tx.query('delete from unknown_devices where address = any($1::text[])', [s.dropped]);
      if (s.changes.length) {
        // In key order (two controllers' flushes lock shared rows in the same order: no deadlock), a chunk a statement.
        const sorted = [...s.changes].sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
        for await (const part of chunks(sorted)) await tx.query(UPSERT, [JSON.stringify(part), s.maxTargets]);
        await tx.query('delete from unknown_devices where address in (select address from unknown_devices order by last_seen desc offset $1)', [s.max]);
      }
      const rows = !s.pull
        ? []
        : s.since
        ? await tx.query<UnknownDeviceRow>(`select ${COLUMNS} from unknown_devices where updated_at >= $1::timestamptz order by last_seen desc limit $2`, [s.since.toISOString(), s.max])
        : await tx.query<UnknownDeviceRow>(`select ${COLUMNS} from unknown_devices order by last_seen desc limit $1`, [s.max]);
      return { rows: rows.map(decodeRow), at };
    });
  }

  /** Every stored row, most recently seen first (tests, maintenance). */
  async list(limit = 10_000): Promise<UnknownDeviceRow[]> {
    return (await this.db.query<UnknownDeviceRow>(`select ${COLUMNS} from unknown_devices order by last_seen desc limit $1`, [limit])).map(decodeRow);
  }
}

/**
 * Rows a statement: PGlite runs a statement on the controller's own thread (~0.1
 * to 0.3 ms a row) and resolves it without going back to the event loop, so a
 * flush is cut into statements short enough not to hold the gRPC receive path
 * for long, with a turn of the loop after each; still one transaction.
 */
export const ROWS_PER_STATEMENT = 250;

export async function* chunks<T>(rows: readonly T[], n = ROWS_PER_STATEMENT): AsyncGenerator<T[]> {
  for (let i = 0; i < rows.length; i += n) {
    if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    yield rows.slice(i, i + n);
  }
}

/** The database's clock at the start of the transaction: every writer's updated_at comes from it. */
export async function dbNow(x: SqlExecutor): Promise<Date> {
  const r = await x.query<{ now: unknown }>('select now() as now');
  return new Date(iso(r[0].now));
}

function decodeRow(r: UnknownDeviceRow): UnknownDeviceRow {
  const tried = typeof r.tried === 'string' ? (JSON.parse(r.tried) as string[]) : r.tried;
  return {
    address: r.address,
    mac: r.mac ?? null,
    interface: r.interface ?? null,
    enforcer: r.enforcer,
    segment: r.segment,
    firstMs: Number(r.firstMs),
    lastMs: Number(r.lastMs),
    flows: Number(r.flows),
    packets: Number(r.packets),
    bytes: Number(r.bytes),
    denied: Number(r.denied),
    tried: Array.isArray(tried) ? tried : [],
  };
}
