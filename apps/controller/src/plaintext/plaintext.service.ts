// SPDX-License-Identifier: Apache-2.0
/**
 * Traffic in clear (issue 7): every flow batch the enforcers send (FLOW_FEED of
 * control/feeds.ts) is counted by the class of each flow's first payload, per
 * source device and per source segment (encryption-stats.ts), for
 * GET /v1/report/plaintext and the controller's /metrics:
 *
 *   cordon_flows_by_encryption_total{src_segment,class}   flows, counted once
 *   cordon_bytes_by_encryption_total{src_segment,class}   bytes, both directions
 *   cordon_plaintext_flows_ratio{src_segment}             flows in clear / all (0..1)
 *   cordon_plaintext_bytes_ratio{src_segment}             bytes in clear / all (0..1)
 *
 * Labels are bounded by the segments of the policy (and the fixed classes),
 * never by devices: per device numbers are in the report only. A segment the
 * newest generation no longer has loses its series.
 *
 * The report and the ratios are the site's (issue 14): loaded from the store at
 * start, and every STATE_FLUSH_MS (and at shutdown) this controller's deltas go
 * to the store in one transaction, which hands back every tally any controller
 * changed since (on a shared PostgreSQL; an embedded store is read at start
 * only); reads stay in memory, at most a flush interval behind the others. The counters stay this process's own (Prometheus sums instances).
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Subscription } from 'rxjs';
import { CurrentGeneration } from '../bundles/current-generation';
import { GenerationView } from '../bundles/generation-view';
import type { DerivedStateWriters } from '../control/derived-state';
import { DERIVED_STATE, FLOW_FEED, type FlowFeed } from '../control/feeds';
import { MetricsService } from '../metrics/metrics.service';
import { LOGGER } from '../di-tokens';
import { PlaintextTallyRepository } from '../store/plaintext-tallies.repository';
import { STATE_FLUSH_MS, STATE_PULL_OVERLAP_MS, WriteBehind } from '../store/write-behind';
import { EncryptionStats, MAX_ADDRESSES, MAX_CLEAR_TO, MAX_SOURCES, type EncryptionFlowRecord, type SourceOf } from './encryption-stats';
import type { ShareSummary } from './encryption-stats';
import { pruneSeries, segmentsIn } from '../../../common/src/metric-catalog';

@Injectable()
export class PlaintextService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly stats: EncryptionStats;
  private view = new GenerationView([], null);
  private readonly subs: Subscription[] = [];
  private readonly log: Logger;
  private readonly writeBehind: WriteBehind;
  /** The store's time at the last flush that read back; null until the first (a start reads every row). */
  private pulledAt: Date | null = null;

  constructor(
    @Inject(CurrentGeneration) private readonly generations: CurrentGeneration,
    @Inject(MetricsService) metrics: MetricsService,
    @Inject(LOGGER) log: Logger,
    @Inject(PlaintextTallyRepository) private readonly stored: PlaintextTallyRepository,
    @Optional() @Inject(FLOW_FEED) private readonly flowFeed?: FlowFeed,
    @Optional() @Inject(DERIVED_STATE) derived?: DerivedStateWriters,
  ) {
    this.log = log.child({ feature: 'plaintext' });
    this.writeBehind = new WriteBehind(() => this.flushOnce(), STATE_FLUSH_MS, (err) => this.log.warn({ err: err.message }, 'plaintext tallies not written to the store; kept for the next flush'));
    derived?.add(() => this.writeBehind.durable());
    const registry = metrics.registry;
    const labelNames = ['src_segment', 'class'] as const;
    const flows = new Counter({ name: 'cordon_flows_by_encryption_total', help: 'TCP and UDP flows by source segment and the class of their first payload (tls, dtls, ssh, quic; in clear: plaintext, mqtt, http, coap; unknown)', labelNames, registers: [registry] });
    const bytes = new Counter({ name: 'cordon_bytes_by_encryption_total', help: 'Bytes (both directions) of TCP and UDP flows by source segment and class of their first payload', labelNames, registers: [registry] });
    this.stats = new EncryptionStats((segment, cls, n, b) => {
      const labels = { src_segment: segment, class: cls };
      if (n) flows.inc(labels, n);
      if (b) bytes.inc(labels, b);
    });
    const stats = this.stats;
    const current = () => this.view.names;
    const ratio = (g: { name: string; help: string }, of: (s: ShareSummary) => number | null) =>
      new Gauge({
        ...g,
        labelNames: ['src_segment'],
        registers: [registry],
        collect() {
          this.reset();
          const names = current();
          for (const [segment, s] of stats.segmentSummaries()) {
            const v = of(s);
            if (v !== null && names.has(segment)) this.set({ src_segment: segment }, v);
          }
        },
      });
    ratio({ name: 'cordon_plaintext_flows_ratio', help: "Share (0..1) of a source segment's TCP and UDP flows sent in clear, since the site began counting" }, (s) => s.flowShareInClear);
    ratio({ name: 'cordon_plaintext_bytes_ratio', help: "Share (0..1) of the bytes of a source segment's TCP and UDP flows sent in clear, since the site began counting" }, (s) => s.bytesShareInClear);
    this.counters = [flows, bytes];
  }
  private readonly counters: Counter<'src_segment' | 'class'>[];

  /** The generation's view; the series of segments it no longer has go. */
  private published(view: GenerationView): void {
    this.view = view;
    for (const c of this.counters) pruneSeries(c, segmentsIn(view.names)).catch((err) => this.log.warn({ err: String(err) }, 'plaintext: could not prune the series of deleted segments'));
  }

  /** Writes this controller's deltas and merges what the site's controllers changed since the last flush. */
  flush(): Promise<void> {
    return this.writeBehind.flush();
  }

  private async flushOnce(): Promise<void> {
    const changes = this.stats.takeChanges();
    const since = this.pulledAt && new Date(this.pulledAt.getTime() - STATE_PULL_OVERLAP_MS);
    let result;
    try {
      result = await this.stored.sync({ changes, pull: this.pulledAt === null || this.stored.shared, since, maxSources: MAX_SOURCES, maxClearTo: MAX_CLEAR_TO, maxAddresses: MAX_ADDRESSES });
    } catch (err) {
      this.stats.restoreChanges(changes);
      throw err;
    }
    this.stats.merge(result.rows);
    this.pulledAt = result.at;
  }

  async onApplicationBootstrap(): Promise<void> {
    // The site's tallies first, then a flush every STATE_FLUSH_MS.
    await this.flush();
    this.writeBehind.start();
    // The policy view of each generation, as CurrentGeneration publishes it (the newest loaded before any flow is counted).
    await this.generations.latest();
    this.subs.push(this.generations.published$.subscribe((view) => this.published(view)));
    if (this.flowFeed) {
      this.subs.push(
        this.flowFeed.subscribe((b) => {
          try {
            this.ingest(b.enforcer, b.flows as EncryptionFlowRecord[], b.at);
          } catch (err) {
            this.log.warn({ err: (err as Error).message, enforcer: b.enforcer }, 'plaintext: could not count a flow batch');
          }
        }),
      );
    }
  }

  /** The last deltas go to the store before it closes. */
  async onModuleDestroy(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.writeBehind.stop();
  }

  /** Counts one batch with the policy known now (device names, segments). Synchronous: runs on the gRPC receive path. */
  ingest(enforcer: string, flows: EncryptionFlowRecord[], at: Date = new Date()): void {
    const view = this.view;
    const sourceOf = (r: EncryptionFlowRecord): SourceOf => {
      const device = view.deviceOf(r.src) ?? null;
      // The identity the datapath gave the source is the segment it enforced;
      // a Device outside every segment's CIDRs falls back to the policy's answer.
      const bySegment = view.identityName(r.srcIdentity);
      return { device, segment: r.srcIdentity ? bySegment : device ? (view.segmentOfDevice.get(device) ?? bySegment) : bySegment };
    };
    this.stats.ingest(enforcer, flows, sourceOf, at.getTime());
  }
}
