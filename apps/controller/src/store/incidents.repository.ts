/**
 * Incidents (migration 181): each stored whole as JSON, with the columns the API
 * filters on (device, open) beside it. The incident's shape belongs to
 * monitoring/incidents.ts; here it is a body with those fields. Ids come from the
 * table's sequence, so controllers sharing the database never hand out the same one.
 */
import { SqlExecutor } from './sql';

/** What the table needs of an incident to index it. */
export interface StorableIncident {
  id: number;
  device: string;
  openedAt: string;
  updatedAt: string;
  open: boolean;
}

export interface IncidentQuery {
  after?: number;
  limit?: number;
  device?: string;
}

const UPSERT = `insert into incidents (id, device, opened_at, updated_at, open, body)
values ($1, $2, $3::timestamptz, $4::timestamptz, $5, $6::jsonb)
on conflict (id) do update set updated_at = excluded.updated_at, open = excluded.open, body = excluded.body`;

export class IncidentRepository {
  constructor(private readonly x: SqlExecutor) {}

  /** A fresh incident id. */
  async nextId(): Promise<number> {
    const rows = await this.x.query<{ id: string | number }>("select nextval(pg_get_serial_sequence('incidents', 'id')) as id");
    return Number(rows[0].id);
  }

  /** Stores the incident as it is now (insert, or replace the stored one with the same id). */
  async save(inc: StorableIncident): Promise<void> {
    await this.x.query(UPSERT, [inc.id, inc.device, inc.openedAt, inc.updatedAt, inc.open, JSON.stringify(inc)]);
  }

  /** Marks these incidents closed. */
  /** Closes those of `ids` nobody updated since `quietSince`: another controller of the site may be adding to one still. */
  async close(ids: readonly number[], quietSince: string): Promise<void> {
    if (!ids.length) return;
    await this.x.query(`update incidents set open = false, body = jsonb_set(body, '{open}', 'false'::jsonb) where id = any($1::bigint[]) and updated_at < $2::timestamptz`, [ids.map(String), quietSince]);
  }

  async query<I extends StorableIncident>(q: IncidentQuery = {}): Promise<I[]> {
    const where = ['id > $1'];
    const params: unknown[] = [q.after ?? 0];
    if (q.device) {
      params.push(q.device);
      where.push(`device = $${params.length}`);
    }
    params.push(Math.max(1, Math.min(q.limit ?? 1000, 5000)));
    const rows = await this.x.query<{ body: unknown }>(`select body from incidents where ${where.join(' and ')} order by id limit $${params.length}`, params);
    return rows.map((r) => (typeof r.body === 'string' ? JSON.parse(r.body) : r.body) as I);
  }

  /** The incidents still open and updated since `since` (ISO), oldest first: what a starting controller goes on with. */
  async openSince<I extends StorableIncident>(since: string, limit = 10_000): Promise<I[]> {
    const rows = await this.x.query<{ body: unknown }>('select body from incidents where open and updated_at >= $1::timestamptz order by id limit $2', [since, limit]);
    return rows.map((r) => (typeof r.body === 'string' ? JSON.parse(r.body) : r.body) as I);
  }
}
