// SPDX-License-Identifier: Apache-2.0
/**
 * Where the page's flows come from: GET /v1/flows once (the backlog and its
 * cursor), then GET /v1/flows/stream from that cursor. While the stream is up
 * nothing polls /v1/flows; when it fails or ends the feed polls (at most
 * ROWS_PER_POLL rows a second) and reconnects with backoff (1 s doubling to
 * 30 s), resuming from the last event id, so nothing is lost or shown twice.
 */
import { get } from './api';
import type { Flow } from './flows';
import { openStream, StreamError, type SseEvent } from './sse';

/** At most this many flow rows a poll, one poll a second, while the stream is down. */
export const ROWS_PER_POLL = 500;
export const POLL_MS = 1000;
export const MAX_BACKOFF_MS = 30_000;

/** Flows beyond the stream's rate (or sent while the page was slow to read), counted by segment pair and verdict. */
export interface Aggregate {
  flows: number;
  why: 'rate' | 'slow-client';
  rowsPerSecond: number;
  pairs: { srcSegment: string; dstSegment: string; verdict: string; flows: number; packets: number; bytes: number }[];
}

export interface FeedSink {
  /** Rows oldest first. */
  rows(items: Flow[]): void;
  aggregate(a: Aggregate): void;
  /** Polls cut at ROWS_PER_POLL. */
  saturated(): void;
  changed(error?: string | null): void;
}

export type FeedMode = 'connecting' | 'stream' | 'polling';

export class FlowFeed {
  mode: FeedMode = 'connecting';
  /** The receive-order cursor: the last event id, or the last poll's cursor. */
  cursor: string | undefined;
  rowsPerSecond = 0;
  /** Streams that failed or ended (each followed by polling and a reconnect). */
  streamFailures = 0;
  private abort: AbortController | null = null;
  private pollTimer: number | null = null;
  private retryTimer: number | null = null;
  private backoffMs = 1000;
  private polling = false;
  private stopped = false;

  constructor(private readonly sink: FeedSink) {}

  start(): void {
    void this.poll()
      .catch((e) => this.sink.changed((e as Error).message))
      .finally(() => this.connect());
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.stopPolling();
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
  }

  private connect(): void {
    if (this.stopped) return;
    this.retryTimer = null;
    const abort = (this.abort = new AbortController());
    openStream('/v1/flows/stream', (e) => this.onEvent(e), abort.signal, this.cursor).then(
      () => this.lost(abort, 'the flow stream ended'),
      (err) => this.lost(abort, err instanceof StreamError ? `flow stream refused: ${err.message}` : `flow stream lost: ${(err as Error).message}`),
    );
  }

  private onEvent(e: SseEvent): void {
    let data: any;
    try {
      data = JSON.parse(e.data);
    } catch {
      return; // not ours: skip, keep the stream
    }
    if (e.event === 'ready') {
      this.mode = 'stream';
      this.rowsPerSecond = data.rowsPerSecond ?? 0;
      this.backoffMs = 1000;
      this.stopPolling();
    } else if (e.event === 'flows') this.sink.rows(data.items ?? []);
    else if (e.event === 'aggregate') this.sink.aggregate(data as Aggregate);
    if (e.id) this.cursor = e.id;
    this.sink.changed(null);
  }

  private lost(abort: AbortController, why: string): void {
    if (this.stopped || abort !== this.abort) return;
    this.abort = null;
    this.streamFailures++;
    this.mode = 'polling';
    this.startPolling();
    this.sink.changed(null);
    this.retryTimer = window.setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    console.info(`cordon console: ${why}; polling, reconnecting in ${this.backoffMs / 2000} s`);
  }

  private startPolling(): void {
    if (this.pollTimer !== null) return;
    this.pollTimer = window.setInterval(() => {
      if (this.polling) return; // the previous poll has not answered: skip, never pile up
      this.poll().then(
        () => this.sink.changed(null),
        (e) => this.sink.changed((e as Error).message),
      );
    }, POLL_MS);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) window.clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      const q = new URLSearchParams({ limit: String(ROWS_PER_POLL) });
      if (this.cursor !== undefined) q.set('after', this.cursor);
      const r = await get<{ cursor: string; items: Flow[] }>(`/v1/flows?${q}`);
      this.sink.rows([...r.items].reverse()); // the API lists newest first
      if (r.items.length >= ROWS_PER_POLL) this.sink.saturated();
      // A stream opened meanwhile may have moved the cursor on: keep the newer.
      if (this.mode !== 'stream') this.cursor = r.cursor;
    } finally {
      this.polling = false;
    }
  }
}
