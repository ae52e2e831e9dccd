/**
 * Security events (migration 6): each stored whole as JSON, with the columns
 * the API filters on (type, device) beside it. The event's shape belongs to
 * monitoring/events.ts; here it is a body with those fields.
 */
import { SqlExecutor } from './sql';

export interface SecurityEventQuery {
  after?: number;
  limit?: number;
  type?: string;
  device?: string;
}

/** What the table needs of an event to index it. */
export interface StorableEvent {
  at: string;
  type: string;
  action: string;
  severity: string;
  device?: string | null;
}

const INSERT_BATCH = `insert into security_events (at, type, action, severity, device, body)
select (x->>'at')::timestamptz, x->>'type', x->>'action', x->>'severity', x->>'device', x
  from jsonb_array_elements($1::jsonb) with ordinality as t(x, n)
 order by n
returning id`;

export class SecurityEventRepository {
  constructor(private readonly x: SqlExecutor) {}

  /** Stores the events in one statement; their ids, ascending (the order they were given). */
  async insertBatch(events: readonly StorableEvent[]): Promise<number[]> {
    const rows = await this.x.query<{ id: string | number }>(INSERT_BATCH, [JSON.stringify(events)]);
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  async query<E extends StorableEvent>(q: SecurityEventQuery): Promise<Array<E & { id: number }>> {
    const where = ['id > $1'];
    const params: unknown[] = [q.after ?? 0];
    if (q.type) {
      params.push(q.type);
      where.push(`type = $${params.length}`);
    }
    if (q.device) {
      params.push(q.device);
      where.push(`device = $${params.length}`);
    }
    params.push(Math.max(1, Math.min(q.limit ?? 500, 5000)));
    const rows = await this.x.query<{ id: string | number; body: unknown }>(
      `select id, body from security_events where ${where.join(' and ')} order by id limit $${params.length}`,
      params,
    );
    return rows.map((r) => {
      const body = (typeof r.body === 'string' ? JSON.parse(r.body) : r.body) as E;
      return { ...body, id: Number(r.id) };
    });
  }

  /** The newest audit entry already turned into an event (data.auditId), 0 when none. */
  async maxAuditId(): Promise<number> {
    const rows = await this.x.query<{ m: number | string | null }>(
      "select max((body->'data'->>'auditId')::int) as m from security_events where body->'data' ? 'auditId'",
    );
    return Number(rows[0]?.m ?? 0) || 0;
  }
}
