// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous monitoring: every flow record the enforcers report (FLOW_FEED of
 * the control channel, or POST /v1/monitoring/flows) goes through ingest(), which
 *   - lists sources no Device claims as unknown devices (an event when new),
 *   - feeds each device's baseline and raises anomalies (an event; a quarantine
 *     when the device's segment says onAnomaly: quarantine),
 *   - summarises drops per flow and interval (events; spoofing apart),
 *   - keeps the distinct observed tuples and rule use for recommend / report unused.
 * A tick (settings.tickMs) closes volume intervals, flushes drop summaries,
 * tails the audit log into the event stream and re-evaluates posture.
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Actor } from '../auth/roles';
import { BundleService } from '../bundles/bundle.service';
import type { Store } from '../store/store';
import { FLOW_FEED, SECURITY_EVENTS, type FlowFeed, type SecurityEvent as ControlSecurityEvent, type SecurityEventFeed } from '../control/feeds';
import { CONFIG, LOGGER, STORE } from '../tokens';
import { Anomaly, AnomalyDetector, Thresholds } from './detector';
import { Incidents } from './incidents';
import { UnknownDevices } from './discovery';
import { EventStore } from './event-store';
import { EventBus, SecurityEvent } from './events';
import { FlowRecord, shortReason, shortVerdict, transportName } from './flow-record';
import type { FlowSink } from './flow-sink';
import { ObservedFlows } from './observed-flows';
import { applyPatch, initialSettings, MonitoringSettings, segmentThresholds } from './settings';
import { CurrentGeneration } from '../bundles/current-generation';
import { GenerationView } from '../bundles/generation-view';

/**
 * unknown_device events per tick at most; the rest of a storm (a scan from
 * spoofed sources, an unknown table churning) is one summary event at the next
 * tick, so the event store and the SIEM see a bounded rate whatever the sources.
 */
export const UNKNOWN_EVENTS_PER_TICK = 500;

export const MONITOR_ACTOR: Actor = { name: 'anomaly-detector', role: 'admin', tokenId: 0, source: 'controller' };

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

/** Things that act on anomalies and posture, wired by the module (avoids a cycle with PostureService). */
export interface QuarantineActions {
  quarantine(device: string, reason: string, actor: Actor): Promise<void>;
}

@Injectable()
export class MonitoringService implements FlowSink, OnApplicationBootstrap, OnModuleDestroy {
  settings: MonitoringSettings;
  readonly detector: AnomalyDetector;
  readonly unknown = new UnknownDevices();
  readonly bus = new EventBus();
  readonly events: EventStore;
  readonly observed = new ObservedFlows();
  readonly incidents = new Incidents();
  /** Thresholds per segment (its spec.monitoring over the site's), rebuilt with the view and the settings. */
  private thresholds = new Map<string, Thresholds>();
  /** Last flow seen per device (ms), for posture's lastSeenWithin. */
  readonly lastSeen = new Map<string, number>();
  view = new GenerationView([], null);
  /** Set by PostureService: run after each new view and each tick. */
  onTick: Array<(reason: 'generation' | 'tick', generation: number) => Promise<void>> = [];
  actions: QuarantineActions | null = null;

  private readonly seenBatches = new WeakSet<object>();
  private drops = new Map<string, DropSummary>();
  private dropsOverflow = 0;
  private timer: NodeJS.Timeout | null = null;
  private sub: Subscription | null = null;
  private readonly feedSubs: Subscription[] = [];
  private lastAuditId = -1;
  private ticking: Promise<void> | null = null;
  private viewGeneration = -1;
  private lastDropFlush = Date.now();
  private unknownBudget = UNKNOWN_EVENTS_PER_TICK;
  private unknownSuppressed: string[] = [];
  private unknownSuppressedCount = 0;
  private closed = false;
  /** Generation announced → the time it was announced (posture latency measures from it). */
  readonly announcedAt = new Map<number, number>();

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Inject(CurrentGeneration) private readonly generations: CurrentGeneration,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) config: Record<string, unknown>,
    @Optional() @Inject(FLOW_FEED) private readonly flowFeed?: FlowFeed,
    @Optional() @Inject(SECURITY_EVENTS) private readonly securityEvents?: SecurityEventFeed,
  ) {
    this.settings = initialSettings(config ?? {});
    this.detector = new AnomalyDetector(this.settings);
    this.events = new EventStore(store, this.bus, log.child({ feature: 'monitoring' }));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.refreshView();
    this.lastAuditId = await this.events.maxAuditId().catch(() => 0);
    this.subscribeControlFeeds();
    this.sub = this.bundles.generation$.subscribe((g) => {
      if (!this.announcedAt.has(g)) this.announcedAt.set(g, Date.now());
      if (this.announcedAt.size > 64) this.announcedAt.delete(this.announcedAt.keys().next().value as number);
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
    await this.events.drain();
  }

  updateSettings(patch: unknown): MonitoringSettings {
    const next = applyPatch(this.settings, patch);
    const opts = this.detector.options as unknown as Record<string, unknown>;
    const detectorChanged = Object.keys(opts).some((k) => JSON.stringify(opts[k]) !== JSON.stringify((next as unknown as Record<string, unknown>)[k]));
    this.settings = next;
    if (detectorChanged) this.detector.reset(next);
    this.rebuildThresholds();
    if (this.timer) {
      clearTimeout(this.timer);
      this.schedule();
    }
    return next;
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
        this.securityEvents?.subscribe((e) => {
          try {
            this.ingestDropEvent(e);
          } catch (err) {
            this.log.warn({ err: (err as Error).message, enforcer: e.enforcer }, 'monitoring could not read a drop event');
          }
        }),
      ].filter((x): x is Subscription => !!x),
    );
  }

  /**
   * A drop event shows the MAC of a source that no Device binds (flow records
   * carry it only once the enforcer has seen such an event, or for bound MACs):
   * an unknown source gets its MAC and interface, and is listed even before the
   * flow records of its attempts arrive. Counters stay the flow records' job.
   */
  ingestDropEvent(e: ControlSecurityEvent): void {
    if (e.srcIdentity === 2 /* host */ || this.view.deviceOf(e.src)) return;
    const fresh = this.unknown.observeEvent(e.enforcer, {
      src: e.src,
      dst: e.dst,
      dport: e.dport,
      protocol: e.protocol,
      verdict: e.verdict,
      mac: e.srcMac || undefined,
      ifindex: e.ifindex,
      interface: e.interface || undefined,
      segment: e.srcSegment || this.view.identityName(e.srcIdentity),
      at: e.at.getTime(),
    });
    if (fresh) void this.emitUnknown(e.src);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.runTick('tick').finally(() => this.schedule());
    }, this.settings.tickMs);
    this.timer.unref?.();
  }

  /** Serialised: a tick asked for while one runs runs once after it. */
  runTick(reason: 'generation' | 'tick'): Promise<void> {
    const run = async () => {
      if (this.closed) return;
      try {
        await this.refreshView();
        if (reason === 'tick') {
          const out: Anomaly[] = [];
          this.detector.flush(Date.now(), out, (d) => this.thresholdsOf(d));
          this.incidents.expire(Date.now(), this.settings.incidentWindowMs);
          await Promise.all(out.map((a) => this.raise(a)));
          if (Date.now() - this.lastDropFlush >= this.settings.dropSummaryMs) await this.flushDrops();
          await this.flushUnknownSummary();
        }
        for (const f of this.onTick) await f(reason, this.viewGeneration);
        await this.tailAudit();
      } catch (err) {
        if (!this.closed) this.log.warn({ err: (err as Error).message }, 'monitoring tick failed');
      }
    };
    const p = (this.ticking ?? Promise.resolve()).then(run);
    this.ticking = p;
    return p;
  }

  private async refreshView(): Promise<void> {
    // Published once per generation by CurrentGeneration (bundles/), not rebuilt here.
    const view = await this.generations.latest();
    if (view.generation === this.viewGeneration) return;
    this.view = view;
    this.viewGeneration = view.generation;
    this.rebuildThresholds();
    // An address a Device now claims is no longer unknown.
    for (const u of this.unknown.list()) if (this.view.deviceOf(u.address)) this.unknown.drop(u.address);
  }

  private rebuildThresholds(): void {
    const m = new Map<string, Thresholds>();
    for (const [name, seg] of this.view.segments) {
      const spec = (seg.spec as { monitoring?: Record<string, unknown> }).monitoring;
      if (spec) m.set(name, segmentThresholds(this.settings, spec));
    }
    this.thresholds = m;
  }

  /** The thresholds that judge a device: its segment's, else the site's. */
  thresholdsOf(device: string): Thresholds {
    const seg = this.view.segmentOfDevice.get(device);
    return (seg && this.thresholds.get(seg)) || this.settings;
  }

  // ---- the sink -------------------------------------------------------------

  ingest(enforcer: string, flows: FlowRecord[], at: Date): void {
    if (this.seenBatches.has(flows)) return;
    this.seenBatches.add(flows);
    const now = at.getTime();
    const view = this.view;
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
        this.lastSeen.set(srcDev, Math.max(this.lastSeen.get(srcDev) ?? 0, t));
        const seg = view.segmentOfDevice.get(srcDev);
        this.detector.observe(srcDev, r, 'src', t, anomalies, (seg && this.thresholds.get(seg)) || this.settings, seg);
      } else if (r.srcIdentity !== 2 /* host */) {
        if (this.unknown.observe(enforcer, r, srcSegment, t)) void this.emitUnknown(r.src);
      }
      if (dstDev) {
        this.lastSeen.set(dstDev, Math.max(this.lastSeen.get(dstDev) ?? 0, t));
        this.detector.observe(dstDev, r, 'dst', t, anomalies, this.thresholdsOf(dstDev));
      }
      const packets = (r.packetsFwd || 0) + (r.packetsRev || 0);
      const bytes = (r.bytesFwd || 0) + (r.bytesRev || 0);
      if (verdict === 'allow' || verdict === 'audit' || (verdict === 'deny' && reason === 'policy')) {
        if (r.srcIdentity !== 3 && r.dstIdentity !== 3) {
          this.observed.observe(
            { srcSegment, dstSegment, protocol: r.protocol, port: r.protocol === 6 || r.protocol === 17 ? r.dport : 0, verdict, reason, packets, bytes, sample: `${r.src} -> ${r.dst}` },
            t,
          );
        }
      }
      const rule = r.ruleId ? view.rules.get(r.ruleId) : undefined;
      if (rule && packets > 0) this.observed.useRule(rule.policy, rule.action, rule.index, packets, t);
      if (verdict === 'deny' || verdict === 'audit') this.summariseDrop(enforcer, r, verdict, reason, srcSegment, dstSegment, srcDev ?? null, t);
    }
    for (const a of anomalies) void this.raise(a);
  }

  // ---- events ---------------------------------------------------------------

  emit(e: Omit<SecurityEvent, 'id'>): Promise<SecurityEvent> {
    return this.events.append(e);
  }

  private emitUnknown(address: string): Promise<SecurityEvent> | undefined {
    if (this.unknownBudget <= 0) {
      this.unknownSuppressedCount++;
      if (this.unknownSuppressed.length < 10) this.unknownSuppressed.push(address);
      return;
    }
    const u = this.unknown.get(address);
    if (!u) return;
    this.unknownBudget--;
    return this.emit({
      at: u.firstSeen,
      type: 'unknown_device',
      action: 'unknown-device-seen',
      severity: 'medium',
      message: `unknown device ${u.address} on ${u.enforcer} (segment ${u.segment}) tried ${u.tried[0] ?? 'nothing yet'}`,
      device: null,
      source: { ip: u.address, mac: u.mac ?? undefined, segment: u.segment },
      enforcer: u.enforcer,
      data: { unknown: { ...u } },
    });
  }

  /** One event for the unknown devices beyond this tick's budget; a fresh budget. */
  private async flushUnknownSummary(): Promise<void> {
    this.unknownBudget = UNKNOWN_EVENTS_PER_TICK;
    const n = this.unknownSuppressedCount;
    if (n === 0) return;
    const examples = this.unknownSuppressed;
    this.unknownSuppressedCount = 0;
    this.unknownSuppressed = [];
    await this.emit({
      at: new Date().toISOString(),
      type: 'unknown_device',
      action: 'unknown-devices-seen-summary',
      severity: 'medium',
      message: `${n} more unknown device(s) seen beyond ${UNKNOWN_EVENTS_PER_TICK} events per ${this.settings.tickMs} ms (e.g. ${examples.join(', ')}); cordon get devices --unknown lists them`,
      device: null,
      data: { unknownDevices: n, examples },
    });
  }

  /**
   * One anomaly: grouped into its device's incident, stored as an event (the
   * detail), and the incident's action taken once, when it opens.
   */
  async raise(a: Anomaly): Promise<void> {
    const segment = this.view.segmentOfDevice.get(a.device);
    const action = this.view.devices.has(a.device) ? this.view.onAnomaly(a.device) : 'alert';
    const { incident, opened } = this.incidents.add(a, segment ?? 'world', action, this.thresholdsOf(a.device).incidentWindowMs);
    const ev = a.evidence as { peer?: string; port?: number; protocol?: string };
    await this.emit({
      at: a.at,
      type: 'anomaly',
      action: `anomaly-${a.kind.replace('_', '-')}`,
      severity: a.severity,
      message: `${a.kind} from ${a.device}: ${summariseEvidence(a)}`,
      device: a.device,
      source: { segment },
      destination: ev.peer ? { ip: ev.peer, port: ev.port } : undefined,
      data: { anomaly: { device: a.device, kind: a.kind, severity: a.severity, evidence: a.evidence, at: a.at, incident: incident.id }, onAnomaly: action },
    });
    if (opened && action === 'quarantine' && this.actions) {
      try {
        await this.actions.quarantine(a.device, `incident ${incident.id}, anomaly ${a.kind}: ${summariseEvidence(a)}`, MONITOR_ACTOR);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, device: a.device }, 'anomaly quarantine failed');
      }
    }
  }

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
      const rule = d.ruleId ? this.view.rules.get(d.ruleId) : undefined;
      written.push(this.emit({
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
      written.push(this.emit({ at: new Date().toISOString(), type: 'drop', action: 'flow-dropped-summary', severity: 'low', message: `${overflow} more dropped packet(s) in flows beyond the summary table`, packets: overflow }));
    }
    await Promise.all(written);
  }

  private async tailAudit(): Promise<void> {
    if (this.lastAuditId < 0) return;
    for (;;) {
      const page = await this.store.pageAudit(200, this.lastAuditId);
      const written: Promise<unknown>[] = [];
      for (const e of page.items) {
        this.lastAuditId = e.id;
        let type: SecurityEvent['type'] = 'audit';
        let device: string | null = null;
        let reason: string | undefined;
        let severity: SecurityEvent['severity'] = 'info';
        if (e.action.startsWith('quarantine.')) {
          type = 'quarantine';
          severity = 'high';
          device = e.target?.replace(/^Device\//, '') ?? null;
          if (e.action === 'quarantine.add' && device) reason = (await this.store.listQuarantined()).find((q) => q.device === device)?.reason ?? undefined;
        } else if (/enroll/.test(e.action)) type = 'enrollment';
        else if (/revoke/.test(e.action)) {
          type = 'revocation';
          severity = 'medium';
        }
        written.push(this.emit({
          at: e.at,
          type,
          action: e.action.replace(/\./g, '-'),
          severity,
          outcome: 'success',
          message: `${e.actor} ${e.action} ${e.target ?? ''}${reason ? ` (${reason})` : ''}`.trim(),
          device,
          actor: e.actor,
          reason,
          data: { auditId: e.id, target: e.target, source: e.source, diff: e.diff, hash: e.hash },
        }));
      }
      await Promise.all(written);
      if (!page.nextCursor || page.items.length === 0) break;
    }
  }
}

export function summariseEvidence(a: Anomaly): string {
  const e = a.evidence as Record<string, any>;
  switch (a.kind) {
    case 'new_peer':
    case 'new_port':
      return `${e.peer} ${e.protocol}/${e.port} not in baseline`;
    case 'volume':
      return `${e.bytes} bytes in ${e.windowSeconds}s (usual ${e.usualBytes}, threshold ${e.thresholdBytes})`;
    case 'scan':
      return e.type === 'distributed'
        ? `distributed scan of ${e.distinctTargets} targets in ${e.windowSeconds}s by ${(e.devices as string[]).length} devices of ${e.segment}`
        : `${e.type} scan: ${e.distinctDestinations} destinations / ${e.distinctTargets} targets in ${e.windowSeconds}s`;
    case 'denied_burst':
      return `${e.deniedAttempts} denied attempts (${e.deniedPackets} packets) to ${e.distinctTargets} target(s) in ${e.windowSeconds}s`;
  }
}
