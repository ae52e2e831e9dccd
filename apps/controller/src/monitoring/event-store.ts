// SPDX-License-Identifier: Apache-2.0
/**
 * Security events in the database (migration 6), so they page across restarts
 * and across controllers sharing PostgreSQL. Appends are serialised in one
 * promise chain: ids come back in order and the bus publishes in that order.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store';
import type { EventBus, SecurityEvent } from './events';

export interface EventQuery {
  after?: number;
  limit?: number;
  type?: string;
  device?: string;
}

export class EventStore {
  private chain: Promise<unknown> = Promise.resolve();
  private localId = 0;
  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  append(e: Omit<SecurityEvent, 'id'>): Promise<SecurityEvent> {
    const p = this.chain.then(async () => {
      let id: number;
      try {
        const rows = await this.store.sql.query<{ id: string | number }>(
          'insert into security_events (at, type, action, severity, device, body) values ($1, $2, $3, $4, $5, $6::jsonb) returning id',
          [e.at, e.type, e.action, e.severity, e.device ?? null, JSON.stringify(e)],
        );
        id = Number(rows[0].id);
      } catch (err) {
        // The store is closing or unreachable: the event still goes to the bus (and syslog).
        this.log.warn({ err: (err as Error).message, type: e.type }, 'security event not stored');
        id = --this.localId;
      }
      const full = { ...e, id } as SecurityEvent;
      this.bus.publish(full);
      return full;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Waits for appends already queued (tests, shutdown). */
  drain(): Promise<unknown> {
    return this.chain;
  }

  async query(q: EventQuery): Promise<SecurityEvent[]> {
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
    const rows = await this.store.sql.query<{ id: string | number; body: unknown }>(
      `select id, body from security_events where ${where.join(' and ')} order by id limit $${params.length}`,
      params,
    );
    return rows.map((r) => {
      const body = (typeof r.body === 'string' ? JSON.parse(r.body) : r.body) as SecurityEvent;
      return { ...body, id: Number(r.id) };
    });
  }

  async maxAuditId(): Promise<number> {
    const rows = await this.store.sql.query<{ m: number | string | null }>(
      "select max((body->'data'->>'auditId')::int) as m from security_events where body->'data' ? 'auditId'",
    );
    return Number(rows[0]?.m ?? 0) || 0;
  }
}
