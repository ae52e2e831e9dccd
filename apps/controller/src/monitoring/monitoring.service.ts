// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous monitoring: every flow record the enforcers report (FLOW_FEED of
 * the control channel, or POST /v1/monitoring/flows) goes through ingest(), which
 *   - lists sources no Device claims as unknown devices (discovery.service.ts),
 *   - feeds each device's baseline and raises anomalies (anomalies.service.ts),
 *   - summarises drops per flow and interval (events; spoofing apart),
 *   - keeps the distinct observed tuples and rule use for recommend / report unused.
 * A tick (settings.tickMs) closes volume intervals, flushes drop summaries,
 * re-evaluates posture (posture.service.ts) and tails the audit log into the
 * event stream (security-events.service.ts).
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import { BundleService } from '../bundles/bundle.service';
import { DROP_EVENTS, FLOW_FEED, type DropEventFeed, type FlowFeed } from '../control/feeds';
import { LOGGER } from '../di-tokens';
import { AnomalyService } from './anomalies.service';
import type { Anomaly } from './detector';
import { DiscoveryService } from './discovery.service';
import { FlowRecord, shortReason, shortVerdict, transportName } from './flow-record';
import type { FlowSink } from './flow-sink';
import type { ObservedFlows } from './observed-flows';
import { ObservedFlowsService } from './observed-flows.service';
import { PostureService } from './posture.service';
import { SecurityEvents } from './security-events.service';
import { SiteView } from './site-view.service';
import { FQDN_IDENTITY_PREFIX } from '../../../../model/generation/fqdn';

interface DropSummary {
  enforcer: string;
  src: string;
  dst: string;
  dport: number;
  protocol: number;
  verdict: string;
  reason: string;
  ruleId: number;
  srcSegment: string;
  dstSegment: string;
  device: string | null;
  packets: number;
  bytes: number;
  first: number;
  last: number;
}

@Injectable()
export class MonitoringService implements FlowSink, OnApplicationBootstrap, OnModuleDestroy {
  private readonly seenBatches = new WeakSet<object>();
  private drops = new Map<string, DropSummary>();
  private dropsOverflow = 0;
  private timer: NodeJS.Timeout | null = null;
  private sub: Subscription | null = null;
  private readonly feedSubs: Subscription[] = [];
  private ticking: Promise<void> | null = null;
  private lastDropFlush = Date.now();
  private closed = false;

  constructor(
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(AnomalyService) private readonly anomalies: AnomalyService,
    @Inject(PostureService) private readonly posture: PostureService,
    @Inject(SecurityEvents) private readonly events: SecurityEvents,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Inject(ObservedFlowsService) private readonly observedFlows: ObservedFlowsService,
    @Inject(LOGGER) private readonly log: Logger,
    @Optional() @Inject(FLOW_FEED) private readonly flowFeed?: FlowFeed,
    @Optional() @Inject(DROP_EVENTS) private readonly dropEvents?: DropEventFeed,
  ) {
    site.onSettings(() => {
      if (this.timer) {
        clearTimeout(this.timer);
        this.schedule();
      }
    });
  }

  /** The site's observed tuples and rule uses (observed-flows.service.ts writes them behind). */
  get observed(): ObservedFlows {
    return this.observedFlows.table;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.site.refresh();
    await this.events.startAuditTail();
    this.subscribeControlFeeds();
    this.sub = this.bundles.generation$.subscribe((g) => {
      this.site.noteAnnounced(g);
      void this.runTick('generation');
    });
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.sub?.unsubscribe();
    for (const x of this.feedSubs) x.unsubscribe();
    await this.ticking?.catch(() => undefined);
    await this.events.store.drain();
  }

  /**
   * The control channel's feeds (control/feeds.ts): every accepted FlowBatch,
   * and each drop event decoded. Both run on the gRPC receive path, so what
   * they do here is bounded, synchronous bookkeeping; anything slow (events,
   * quarantines) is queued by ingest() itself. Absent in a controller built
   * without the control module (unit tests), where POST /v1/monitoring/flows
   * is the only input.
   */
  private subscribeControlFeeds(): void {
    this.feedSubs.push(
      ...[
        this.flowFeed?.subscribe((b) => {
          try {
            this.ingest(b.enforcer, b.flows as FlowRecord[], b.at);
          } catch (err) {
            this.log.warn({ err: (err as Error).message, enforcer: b.enforcer }, 'monitoring could not ingest a flow batch');
          }
        }),
        this.dropEvents?.subscribe((e) => {
          try {
            this.discovery.observeDropEvent(e);
          } catch (err) {
            this.log.warn({ err: (err as Error).message, enforcer: e.enforcer }, 'monitoring could not read a drop event');
          }
        }),
      ].filter((x): x is Subscription => !!x),
    );
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.runTick('tick').finally(() => this.schedule());
    }, this.site.settings.tickMs);
    this.timer.unref?.();
  }

  /** Serialised: a tick asked for while one runs runs once after it. */
  runTick(reason: 'generation' | 'tick'): Promise<void> {
    const run = async () => {
      if (this.closed) return;
      try {
        await this.site.refresh();
        if (reason === 'tick') {
          await this.anomalies.tick(Date.now());
          if (Date.now() - this.lastDropFlush >= this.site.settings.dropSummaryMs) await this.flushDrops();
          await this.discovery.flushSummary();
        }
        await this.posture.evaluate(this.site.generation);
        await this.events.tailAudit();
      } catch (err) {
        if (!this.closed) this.log.warn({ err: (err as Error).message }, 'monitoring tick failed');
      }
    };
    const p = (this.ticking ?? Promise.resolve()).then(run);
    this.ticking = p;
    return p;
  }

  // ---- the sink -------------------------------------------------------------

  ingest(enforcer: string, flows: FlowRecord[], at: Date): void {
    if (this.seenBatches.has(flows)) return;
    this.seenBatches.add(flows);
    const now = at.getTime();
    const view = this.site.view;
    const anomalies: Anomaly[] = [];
    for (const r of flows) {
      const t = r.lastSeen || now;
      const srcDev = view.deviceOf(r.src);
      const dstDev = view.deviceOf(r.dst);
      const verdict = shortVerdict(r.verdict);
      const reason = shortReason(r.reason);
      const srcSegment = view.identityName(r.srcIdentity);
      const dstSegment = view.identityName(r.dstIdentity);
      if (srcDev) {
        this.site.noteSeen(srcDev, t);
        this.anomalies.observe(srcDev, r, 'src', t, anomalies);
      } else if (r.srcIdentity !== 2 /* host */) {
        this.discovery.observe(enforcer, r, srcSegment, t);
      }
      if (dstDev) {
        this.site.noteSeen(dstDev, t);
        this.anomalies.observe(dstDev, r, 'dst', t, anomalies);
      }
      const packets = (r.packetsFwd || 0) + (r.packetsRev || 0);
      const bytes = (r.bytesFwd || 0) + (r.bytesRev || 0);
      if (verdict === 'allow' || verdict === 'audit' || (verdict === 'deny' && reason === 'policy')) {
        if (r.srcIdentity !== 3 && r.dstIdentity !== 3) {
          this.observed.observe(
            { srcSegment, dstSegment: observedTarget(dstSegment, r.dstName), protocol: r.protocol, port: r.protocol === 6 || r.protocol === 17 ? r.dport : 0, verdict, reason, packets, bytes, sample: `${r.src} -> ${r.dst}` },
            t,
          );
        }
      }
      const rule = r.ruleId ? view.rules.get(r.ruleId) : undefined;
      if (rule && packets > 0) this.observed.useRule(rule.policy, rule.action, rule.index, packets, t);
      if (verdict === 'deny' || verdict === 'audit') this.summariseDrop(enforcer, r, verdict, reason, srcSegment, dstSegment, srcDev ?? null, t);
    }
    for (const a of anomalies) void this.anomalies.raise(a);
  }

  // ---- drop summaries ---------------------------------------------------------

  private summariseDrop(enforcer: string, r: FlowRecord, verdict: string, reason: string, srcSegment: string, dstSegment: string, device: string | null, t: number): void {
    const key = `${enforcer}|${r.src}|${r.dst}|${r.protocol}|${r.dport}|${verdict}|${reason}`;
    const d = this.drops.get(key);
    const packets = Math.max(r.packetsFwd || 0, 1);
    const bytes = r.bytesFwd || 0;
    if (d) {
      d.packets += packets;
      d.bytes += bytes;
      d.last = Math.max(d.last, t);
      return;
    }
    if (this.drops.size >= 5000) {
      this.dropsOverflow += packets;
      return;
    }
    this.drops.set(key, { enforcer, src: r.src, dst: r.dst, dport: r.dport, protocol: r.protocol, verdict, reason, ruleId: r.ruleId ?? 0, srcSegment, dstSegment, device, packets, bytes, first: t, last: t });
  }

  /** One event per dropped flow and interval; spoofing is its own type. */
  async flushDrops(): Promise<void> {
    const drops = this.drops;
    const overflow = this.dropsOverflow;
    this.drops = new Map();
    this.dropsOverflow = 0;
    this.lastDropFlush = Date.now();
    // Queued together, written by the event store in a few multi-row statements.
    const written: Promise<unknown>[] = [];
    for (const d of drops.values()) {
      const spoof = d.reason === 'spoofed';
      const rule = d.ruleId ? this.site.view.rules.get(d.ruleId) : undefined;
      written.push(this.events.emit({
        at: new Date(d.last).toISOString(),
        type: spoof ? 'spoofing' : 'drop',
        action: spoof ? 'spoofed-packet-dropped' : d.verdict === 'audit' ? 'flow-would-drop' : 'flow-dropped',
        severity: spoof ? 'high' : 'low',
        outcome: d.verdict === 'audit' ? 'success' : 'failure',
        message: `${d.verdict === 'audit' ? 'would drop' : 'dropped'} ${d.packets} packet(s) ${d.src} -> ${d.dst} ${transportName(d.protocol)}/${d.dport} (${d.reason})`,
        device: d.device,
        source: { ip: d.src, segment: d.srcSegment },
        destination: { ip: d.dst, port: d.dport, segment: d.dstSegment },
        protocol: d.protocol,
        enforcer: d.enforcer,
        rule: rule ? `${rule.policy}#${rule.action}[${rule.index}]` : 'default-deny',
        reason: d.reason,
        packets: d.packets,
        bytes: d.bytes,
        data: { interval: { start: new Date(d.first).toISOString(), end: new Date(d.last).toISOString() }, verdict: d.verdict },
      }));
    }
    if (overflow) {
      written.push(this.events.emit({ at: new Date().toISOString(), type: 'drop', action: 'flow-dropped-summary', severity: 'low', message: `${overflow} more dropped packet(s) in flows beyond the summary table`, packets: overflow }));
    }
    await Promise.all(written);
  }

}

/**
 * What recommend sees as a flow's destination: a server outside the site known by the name the device resolved
 * (`fqdn:NAME`, the identity name of a name selector), so that the rule it proposes is by name, not by address.
 */
function observedTarget(dstSegment: string, dstName: string | undefined): string {
  return dstName && (dstSegment === 'world' || dstSegment.startsWith(FQDN_IDENTITY_PREFIX)) ? FQDN_IDENTITY_PREFIX + dstName : dstSegment;
}
