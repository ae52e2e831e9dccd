/**
 * Device baselines of the site (migration 1330), written behind by the
 * controller serving each device: a flush is one transaction that upserts the
 * states that changed (never over a row whose device was seen later: another
 * controller moved on) and, on a shared PostgreSQL, reads back which devices
 * any controller wrote since the caller's last pull, so that a copy another
 * controller has moved past is dropped and loaded again on the next flow.
 * The bytes belong to monitoring/baseline-codec.ts; times are Unix ms.
 */
import type { SqlDatabase } from './sql';
import { chunks, dbNow, type SyncResult } from './unknown-devices.repository';

export interface StoredBaseline {
  device: string;
  lastSeen: number;
  state: Buffer;
}

export interface BaselineWritten {
  device: string;
  lastSeen: number;
}

export interface BaselineSync {
  changes: StoredBaseline[];
  /** Read back which devices were written since `since` (the database's clock); null: write only. */
  since: Date | null;
  /** Rows kept at most (the most recently seen). */
  max: number;
}

/**
 * Rows a statement: a baseline is ~1.8 KB (2.4 KB base64 in the statement's JSON), some ten times an
 * unknown device's row, so fewer a statement than ROWS_PER_STATEMENT to hold PGlite's thread as briefly.
 */
export const BASELINES_PER_STATEMENT = 50;

const UPSERT = `
insert into device_baselines as b (device, state, last_seen, updated_at)
select d.device, decode(d.state, 'base64'), d."lastSeen", now()
  from jsonb_to_recordset($1::jsonb) as d(device text, state text, "lastSeen" bigint)
 order by d.device collate "C"
on conflict (device) do update set state = excluded.state, last_seen = excluded.last_seen, updated_at = now()
 where b.last_seen <= excluded.last_seen`;

export class BaselineRepository {
  constructor(private readonly db: SqlDatabase) {}

  /** Whether other controllers may write these rows too (a shared PostgreSQL). */
  get shared(): boolean {
    return this.db.driver === 'postgres';
  }

  /** One flush, one transaction (see the file's comment). */
  sync(s: BaselineSync): Promise<SyncResult<BaselineWritten>> {
    return this.db.transaction(async (tx) => {
      const at = await dbNow(tx);
      if (s.changes.length) {
        // In key order (two controllers' flushes lock shared rows in the same order: no deadlock), a chunk a statement.
        const sorted = [...s.changes].sort((x, y) => (x.device < y.device ? -1 : x.device > y.device ? 1 : 0));
        for await (const part of chunks(sorted, BASELINES_PER_STATEMENT)) {
          await tx.query(UPSERT, [JSON.stringify(part.map((c) => ({ device: c.device, lastSeen: c.lastSeen, state: c.state.toString('base64') })))]);
        }
        await tx.query('delete from device_baselines where device in (select device from device_baselines order by last_seen desc offset $1)', [s.max]);
      }
      const rows = s.since
        ? await tx.query<BaselineWritten>('select device, last_seen::float8 as "lastSeen" from device_baselines where updated_at >= $1::timestamptz', [s.since.toISOString()])
        : [];
      return { rows: rows.map((r) => ({ device: r.device, lastSeen: Number(r.lastSeen) })), at };
    });
  }

  /** The stored states of these devices (those that have one). */
  async load(devices: readonly string[]): Promise<StoredBaseline[]> {
    if (!devices.length) return [];
    return decode(await this.db.query('select device, last_seen::float8 as "lastSeen", state from device_baselines where device = any($1::text[])', [devices]));
  }

  /** The `limit` most recently seen devices' states (a start), and the database's time before reading them. */
  async loadAll(limit: number): Promise<{ rows: StoredBaseline[]; at: Date }> {
    const at = await dbNow(this.db);
    return { rows: decode(await this.db.query('select device, last_seen::float8 as "lastSeen", state from device_baselines order by last_seen desc limit $1', [limit])), at };
  }
}

function decode(rows: Record<string, unknown>[]): StoredBaseline[] {
  return rows.map((r) => ({ device: String(r.device), lastSeen: Number(r.lastSeen), state: Buffer.from(r.state as Uint8Array) }));
}
