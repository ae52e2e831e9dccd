// SPDX-License-Identifier: Apache-2.0
/**
 * Security events in the database (migration 6), so they page across restarts
 * and across controllers sharing PostgreSQL.
 *
 * Appends are queued and written in batches: one INSERT of up to BATCH rows
 * (the events as one JSON array, expanded by the database), on the next turn of
 * the event loop after the first append. One statement per event made the
 * database the controller's bottleneck under a flow storm (~1,500 flows/s
 * from one enforcer, almost all of it in PGlite): a batch costs about what one
 * row did. Batches are serialised, so ids come back in append order and the bus
 * publishes in that order. The queue is bounded (maxPending): beyond it an
 * event still goes to the bus (and syslog) with a local negative id, as when
 * the store is unreachable, and the overflow is counted and logged.
 */
import type { Logger } from 'pino';
import type { SecurityEventQuery, SecurityEventRepository } from '../store/security-events.repository';
import type { EventBus, SecurityEvent } from './events';

export type EventQuery = SecurityEventQuery;

type NewEvent = Omit<SecurityEvent, 'id'>;
interface Pending {
  e: NewEvent;
  resolve: (e: SecurityEvent) => void;
}

/** Rows per INSERT: large enough to amortise a statement, small enough not to hold the event loop long. */
const BATCH = 500;

export class EventStore {
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private localId = 0;
  /** Events that went to the bus without being stored (queue full or store unreachable). */
  notStored = 0;
  constructor(
    private readonly repo: SecurityEventRepository,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly maxPending = 20_000,
  ) {}

  append(e: NewEvent): Promise<SecurityEvent> {
    if (this.pending.length >= this.maxPending) {
      this.notStored++;
      if (this.notStored === 1 || this.notStored % 10_000 === 0) this.log.warn({ notStored: this.notStored, type: e.type }, 'security event queue full: events go to the bus and syslog without being stored');
      return Promise.resolve(this.publish(e, --this.localId));
    }
    return new Promise<SecurityEvent>((resolve) => {
      this.pending.push({ e, resolve });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Writes queued events, BATCH at a time, until none are left. */
  private async flushLoop(): Promise<void> {
    // Let the caller's synchronous work (a whole flow batch) queue its events first.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, BATCH);
        let ids: number[];
        try {
          ids = await this.repo.insertBatch(batch.map((p) => p.e));
          if (ids.length !== batch.length) throw new Error(`stored ${ids.length} of ${batch.length} events`);
        } catch (err) {
          // The store is closing or unreachable: the events still go to the bus (and syslog).
          this.notStored += batch.length;
          this.log.warn({ err: (err as Error).message, events: batch.length }, 'security events not stored');
          ids = batch.map(() => --this.localId);
        }
        for (let i = 0; i < batch.length; i++) batch[i].resolve(this.publish(batch[i].e, ids[i]));
        // Between batches, the gRPC streams and timers get their turn.
        if (this.pending.length > 0) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.flushing = null;
    }
  }

  private publish(e: NewEvent, id: number): SecurityEvent {
    const full = { ...e, id } as SecurityEvent;
    this.bus.publish(full);
    return full;
  }

  /** Waits until every event appended so far is stored (tests, shutdown, queries). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  get queued(): number {
    return this.pending.length;
  }

  query(q: EventQuery): Promise<SecurityEvent[]> {
    return this.repo.query<SecurityEvent>(q);
  }

  maxAuditId(): Promise<number> {
    return this.repo.maxAuditId();
  }
}
