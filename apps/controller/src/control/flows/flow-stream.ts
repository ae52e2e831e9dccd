// SPDX-License-Identifier: Apache-2.0
/**
 * One client of GET /v1/flows/stream: a server-sent event stream of the flows
 * the controller receives, from a cursor on (the receive order of /v1/flows),
 * with back-pressure. On every tick it sends the rows received since its
 * cursor, at most `rowsPerSecond` rows in each second of the stream; the rest
 * go as one `aggregate` event (flows, packets and bytes by segment pair and
 * verdict). While the socket will not take more (write() returned false and
 * no 'drain' yet) nothing is written: what arrives is only counted, into a
 * table bounded by the segment pairs, and sent as an aggregate once it drains.
 * So a slow client costs the controller a cursor and that table, never a queue
 * of rows. Pure: the source and the socket come in (flow-stream.spec.ts).
 */
import type { FlowChanges, PairCount } from './flow-aggregator';
import type { FlowQuery } from './flow-query';
import type { StreamLimits } from './stream-limits';

export { STREAM_DEFAULTS, type StreamLimits } from './stream-limits';

/** What a stream reads: the controller's flow table (FlowAggregator). */
export interface FlowSource {
  cursor(): string;
  changes(q: FlowQuery, maxRows: number): FlowChanges;
}

/** What a stream writes to: an http.ServerResponse. */
export interface StreamSink {
  write(chunk: string): boolean;
  readonly writableNeedDrain: boolean;
}

/** A stream's cursor as Last-Event-ID or `after` carry it (FlowAggregator's `epoch.seq`). */
export const CURSOR = /^[0-9a-f]{8}\.\d{1,15}$/;

/** Beyond this many segment pairs in one aggregate, the rest are summed under `*`. */
const MAX_PAIRS = 4096;

export function sseEvent(event: string, data: unknown, id?: string): string {
  return `event: ${event}\n${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}

export class FlowStream {
  private cursor: string;
  private windowStart = 0;
  private sentInWindow = 0;
  private lastWrite = 0;
  private blockedSince: number | null = null;
  private readonly pending = new Map<string, PairCount>();
  private pendingFlows = 0;
  private pendingWhy: 'rate' | 'slow-client' = 'rate';
  /** Rows sent and rows only counted, for the controller's metrics. */
  readonly totals = { rows: 0, aggregated: 0 };

  constructor(
    private readonly source: FlowSource,
    private readonly query: FlowQuery,
    after: string | undefined,
    private readonly sink: StreamSink,
    private readonly limits: StreamLimits,
    now: number,
  ) {
    this.cursor = after ?? source.cursor();
    this.windowStart = now;
    this.lastWrite = now;
    this.write(`retry: 3000\n\n${sseEvent('ready', { cursor: this.cursor, rowsPerSecond: limits.rowsPerSecond, heartbeatMs: limits.heartbeatMs }, this.cursor)}`, now);
  }

  /** Sends what arrived since the last tick; false when the client has stalled for stallMs (the caller ends it). */
  tick(now: number): boolean {
    const blocked = this.sink.writableNeedDrain;
    if (blocked) {
      this.blockedSince ??= now;
      if (now - this.blockedSince >= this.limits.stallMs) return false;
    } else this.blockedSince = null;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.sentInWindow = 0;
    }
    if (this.source.cursor() !== this.cursor) {
      const budget = blocked ? 0 : Math.max(0, this.limits.rowsPerSecond - this.sentInWindow);
      const c = this.source.changes({ ...this.query, after: this.cursor }, budget);
      if (c.aggregated) {
        if (blocked) this.pendingWhy = 'slow-client';
        this.count(c.pairs, c.aggregated);
      }
      if (blocked) {
        this.cursor = c.cursor; // counted only: the socket's buffer does not grow
        return true;
      }
      let out = '';
      if (this.pendingFlows) out += this.takeAggregate(c.rows.length ? c.restCursor : c.cursor);
      if (c.rows.length) {
        out += sseEvent('flows', { items: c.rows }, c.cursor);
        this.sentInWindow += c.rows.length;
        this.totals.rows += c.rows.length;
      }
      this.cursor = c.cursor;
      if (out) return this.write(out, now), true;
    } else if (!blocked && this.pendingFlows) {
      return this.write(this.takeAggregate(this.cursor), now), true;
    }
    if (!blocked && now - this.lastWrite >= this.limits.heartbeatMs) this.write(': keep-alive\n\n', now);
    return true;
  }

  private count(pairs: PairCount[], flows: number) {
    this.pendingFlows += flows;
    this.totals.aggregated += flows;
    for (const p of pairs) {
      let k = `${p.srcSegment}|${p.dstSegment}|${p.verdict}`;
      if (!this.pending.has(k) && this.pending.size >= MAX_PAIRS) k = `*|*|${p.verdict}`;
      const q = this.pending.get(k);
      if (!q) this.pending.set(k, k.startsWith('*|') ? { ...p, srcSegment: '*', dstSegment: '*' } : { ...p });
      else {
        q.flows += p.flows;
        q.packets += p.packets;
        q.bytes += p.bytes;
      }
    }
  }

  private takeAggregate(id: string): string {
    const out = sseEvent('aggregate', { flows: this.pendingFlows, why: this.pendingWhy, rowsPerSecond: this.limits.rowsPerSecond, pairs: [...this.pending.values()] }, id);
    this.pending.clear();
    this.pendingFlows = 0;
    this.pendingWhy = 'rate';
    return out;
  }

  private write(chunk: string, now: number) {
    this.lastWrite = now;
    this.sink.write(chunk);
  }
}
