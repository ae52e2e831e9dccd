// SPDX-License-Identifier: Apache-2.0
/**
 * The open GET /v1/flows/stream clients (flows/flow-stream.ts): at most
 * `perToken` per API token, all ticked by one timer that runs only while one
 * is open, all ended when the controller stops (an open stream would hold its
 * HTTP server open).
 */
import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { Problem } from '../http/problem';
import { MetricsService } from '../metrics/metrics.service';
import { CONTROL_CONFIG, type ControlConfig } from './control.ports';
import { ControlService } from './control.service';
import type { FlowQuery } from './flows/flow-query';
import { FlowStream, STREAM_DEFAULTS, type StreamLimits } from './flows/flow-stream';

/** The response side of one stream (an http.ServerResponse). */
export interface StreamResponse {
  write(chunk: string): boolean;
  readonly writableNeedDrain: boolean;
  end(): void;
}

interface Open {
  stream: FlowStream;
  res: StreamResponse;
  tokenId: number;
  counted: { rows: number; aggregated: number };
}

@Injectable()
export class FlowStreamService implements OnModuleDestroy {
  readonly limits: StreamLimits;
  private readonly open = new Set<Open>();
  private timer: NodeJS.Timeout | null = null;
  private readonly gauge: Gauge;
  private readonly rows: Counter<'kind'>;

  constructor(
    @Inject(ControlService) private readonly control: ControlService,
    @Inject(MetricsService) metrics: MetricsService,
    @Optional() @Inject(CONTROL_CONFIG) config?: ControlConfig,
  ) {
    this.limits = { ...STREAM_DEFAULTS, ...(config?.stream ?? {}) };
    const r = metrics.registry;
    this.gauge = (r.getSingleMetric('cordon_flow_streams') as Gauge | undefined) ?? new Gauge({ name: 'cordon_flow_streams', help: 'Open GET /v1/flows/stream clients', registers: [r] });
    this.rows =
      (r.getSingleMetric('cordon_flow_stream_rows_total') as Counter<'kind'> | undefined) ??
      new Counter({ name: 'cordon_flow_stream_rows_total', help: 'Flow rows the streams sent (kind=row) or only counted in aggregate events (kind=aggregated)', labelNames: ['kind'], registers: [r] });
    this.gauge.set(0);
  }

  /** Starts a stream on `res` (headers already sent); throws 429 when the token has its `perToken` open. */
  admit(tokenId: number): void {
    let n = 0;
    for (const o of this.open) if (o.tokenId === tokenId) n++;
    if (n >= this.limits.perToken) {
      throw new Problem(429, 'Too Many Requests', `this token already has ${n} flow stream(s) open, the most one token may (close one, or use another token)`);
    }
  }

  start(tokenId: number, query: FlowQuery, after: string | undefined, res: StreamResponse): () => void {
    const o: Open = { stream: new FlowStream(this.control.flows, query, after, res, this.limits, Date.now()), res, tokenId, counted: { rows: 0, aggregated: 0 } };
    this.open.add(o);
    this.gauge.set(this.open.size);
    this.timer ??= setInterval(() => this.tick(), this.limits.tickMs);
    return () => this.close(o);
  }

  private tick() {
    const now = Date.now();
    for (const o of this.open) {
      let alive = true;
      try {
        alive = o.stream.tick(now);
      } catch {
        alive = false; // a socket gone under us: end it, keep the others
      }
      this.rows.inc({ kind: 'row' }, o.stream.totals.rows - o.counted.rows);
      this.rows.inc({ kind: 'aggregated' }, o.stream.totals.aggregated - o.counted.aggregated);
      o.counted = { ...o.stream.totals };
      if (!alive) this.close(o);
    }
  }

  private close(o: Open) {
    if (!this.open.delete(o)) return;
    try {
      o.res.end();
    } catch {
      /* already gone */
    }
    this.gauge.set(this.open.size);
    if (!this.open.size && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  get size(): number {
    return this.open.size;
  }

  onModuleDestroy() {
    for (const o of [...this.open]) this.close(o);
  }
}
