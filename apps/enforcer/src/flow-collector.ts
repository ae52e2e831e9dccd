// SPDX-License-Identifier: Apache-2.0
/**
 * Turns the datapath's cumulative counters into increments: per flow and per
 * segment pair, into the enforcer's metrics and into flow batches for the
 * controller, queued in a bounded queue (oldest dropped and counted) while the
 * controller is away.
 */
import type { FlowBatch, WireFlowRecord, WirePairCounter, WireSecurityEvent } from '../../../proto/cordon/v1/control';
import { FLOW_BATCH_MAX_EVENTS, FLOW_BATCH_MAX_RECORDS, VERDICT_TO_WIRE, reasonToWire } from '../../../proto/cordon/v1/control';
import { segmentNames } from '../../../proto/cordon/v1/bundle';
import type { DatapathEvent, DatapathFlow, DatapathPort } from './datapath.port';
import type { EnforcerMetrics } from './metrics';

export class BoundedQueue<T> {
  private items: T[] = [];
  dropped = 0;
  constructor(readonly max: number) {}
  push(x: T): void {
    this.items.push(x);
    while (this.items.length > this.max) {
      this.items.shift();
      this.dropped++;
    }
  }
  peek(): T | undefined {
    return this.items[0];
  }
  shift(): T | undefined {
    return this.items.shift();
  }
  /** Removes and returns up to n items, oldest first. */
  take(n: number): T[] {
    return this.items.splice(0, n);
  }
  get length(): number {
    return this.items.length;
  }
}

/** Monotonic ns (bpf_ktime_get_ns, CLOCK_MONOTONIC like process.hrtime) to wall-clock ms. */
export function monoNsToEpochMs(ns: number): number {
  if (!ns) return 0;
  const nowNs = Number(process.hrtime.bigint());
  return Math.max(0, Math.round(Date.now() - (nowNs - ns) / 1e6));
}

const flowKey = (f: DatapathFlow) => `${f.family}|${f.protocol}|${f.src}|${f.sport}|${f.dst}|${f.dport}|${f.firstSeenNs}`;
const pairKey = (p: { srcIdentity: number; dstIdentity: number; verdict: string; reason: string }) => `${p.srcIdentity}|${p.dstIdentity}|${p.verdict}|${p.reason}`;

export class FlowCollector {
  private prevFlows = new Map<string, DatapathFlow>();
  private prevPairs = new Map<string, { packets: number; bytes: number }>();
  private prevReasons = new Map<string, number>();
  private seq = 0;
  private windowStart = Date.now();
  readonly queue: BoundedQueue<FlowBatch>;
  /** Drop/audit events waiting for the next batch; bounded, oldest dropped (counted in events_lost). */
  readonly events: BoundedQueue<WireSecurityEvent>;

  constructor(
    private readonly dp: DatapathPort,
    private readonly metrics: EnforcerMetrics,
    private readonly enforcer: string,
    /** Identities of the enforced generation (segment names for labels). */
    private readonly identities: () => Record<string, number>,
    private readonly generation: () => number,
    opts: { queueBatches?: number; baseline?: boolean; queueEvents?: number; onQueued?: () => void } = {},
  ) {
    this.onQueued = opts.onQueued ?? (() => undefined);
    this.queue = new BoundedQueue(opts.queueBatches ?? 120);
    this.events = new BoundedQueue(opts.queueEvents ?? 10_000);
    this.baseline = opts.baseline ?? false;
  }
  private readonly onQueued: () => void;
  /** When true, the first poll only records where counters stand (an adopted datapath's history was reported by the previous run). */
  private baseline: boolean;

  /** Takes events from the datapath's ring buffer (called on its poller's batches). */
  pushEvents(evs: readonly DatapathEvent[]): void {
    for (const e of evs) {
      if (e.verdict !== 'deny' && e.verdict !== 'audit') continue;
      this.metrics.events.inc({ verdict: e.verdict, reason: e.reason });
      this.events.push({
        at: monoNsToEpochMs(e.tsNs) || Date.now(),
        src: e.src,
        dst: e.dst,
        sport: e.sport,
        dport: e.dport,
        protocol: e.protocol,
        family: e.family,
        verdict: VERDICT_TO_WIRE[e.verdict],
        reason: reasonToWire(e.reason),
        srcIdentity: e.srcIdentity,
        dstIdentity: e.dstIdentity,
        ruleId: e.ruleId,
        ifindex: e.ifindex,
        srcMac: e.srcMac ?? '',
      });
    }
    this.metrics.eventsLost.set(this.eventsLost());
  }

  /** Events lost since start: the kernel's rate limit plus our queue's overflow. */
  eventsLost(): number {
    let suppressed = 0;
    try {
      suppressed = this.dp.suppressedEvents?.() ?? 0;
    } catch {
      /* a datapath without the counter */
    }
    return suppressed + this.events.dropped;
  }

  /** Sends pending events now, in batches of their own, without waiting for the next counter poll. */
  flushEvents(): void {
    const now = Date.now();
    while (this.events.length > 0) this.cut([], [], this.events.take(FLOW_BATCH_MAX_EVENTS), now, now);
  }

  private cut(flows: WireFlowRecord[], pairs: WirePairCounter[], events: WireSecurityEvent[], windowStart: number, windowEnd: number): void {
    const before = this.queue.dropped;
    this.queue.push({
      enforcer: this.enforcer,
      seq: ++this.seq,
      generation: this.generation(),
      windowStart,
      windowEnd,
      flows,
      pairs,
      droppedBatches: this.queue.dropped,
      events,
      eventsLost: this.eventsLost(),
    });
    if (this.queue.dropped > before) this.metrics.batchesDropped.inc(this.queue.dropped - before);
    this.onQueued();
  }

  /** Reads the datapath once; updates metrics; queues one or more batches. */
  async poll(): Promise<void> {
    const [flows, pairs, reasons] = [await this.dp.flows(), this.dp.pairStats(), this.dp.reasonStats()];
    const now = Date.now();
    const names = segmentNames(this.identities());
    const seg = (id: number) => names.get(id) ?? 'unknown';
    const record = !this.baseline;
    this.baseline = false;

    const wireFlows: WireFlowRecord[] = [];
    const nextFlows = new Map<string, DatapathFlow>();
    for (const f of flows) {
      const k = flowKey(f);
      nextFlows.set(k, f);
      const p = this.prevFlows.get(k);
      const d = (a: number, b: number | undefined) => (b !== undefined && a >= b ? a - b : a);
      const inc = { pf: d(f.packetsFwd, p?.packetsFwd), bf: d(f.bytesFwd, p?.bytesFwd), pr: d(f.packetsRev, p?.packetsRev), br: d(f.bytesRev, p?.bytesRev) };
      if (!record || inc.pf + inc.pr === 0) continue;
      wireFlows.push({
        src: f.src,
        dst: f.dst,
        sport: f.sport,
        dport: f.dport,
        protocol: f.protocol,
        family: f.family,
        srcIdentity: f.srcIdentity,
        dstIdentity: f.dstIdentity,
        verdict: VERDICT_TO_WIRE[f.verdict] ?? 'VERDICT_NONE',
        reason: f.verdict === 'allow' ? 'DROP_REASON_NONE' : reasonToWire(f.reason),
        ruleId: f.ruleId,
        packetsFwd: inc.pf,
        bytesFwd: inc.bf,
        packetsRev: inc.pr,
        bytesRev: inc.br,
        firstSeen: monoNsToEpochMs(f.firstSeenNs),
        lastSeen: monoNsToEpochMs(f.lastSeenNs),
        ifindex: f.ifindex,
        encryption: f.encryption ?? '',
      });
    }
    this.prevFlows = nextFlows;

    const wirePairs: WirePairCounter[] = [];
    const nextPairs = new Map<string, { packets: number; bytes: number }>();
    for (const p of pairs) {
      const k = pairKey(p);
      const prev = this.prevPairs.get(k);
      nextPairs.set(k, { packets: p.packets, bytes: p.bytes });
      // An LRU-evicted and re-created pair restarts from 0: count it whole.
      const packets = prev && p.packets >= prev.packets ? p.packets - prev.packets : p.packets;
      const bytes = prev && p.bytes >= prev.bytes ? p.bytes - prev.bytes : p.bytes;
      if (!record || packets === 0) continue;
      const labels = { src_segment: seg(p.srcIdentity), dst_segment: seg(p.dstIdentity), verdict: p.verdict };
      this.metrics.packets.inc(labels, packets);
      this.metrics.bytes.inc(labels, bytes);
      wirePairs.push({
        srcIdentity: p.srcIdentity,
        dstIdentity: p.dstIdentity,
        srcSegment: labels.src_segment,
        dstSegment: labels.dst_segment,
        verdict: VERDICT_TO_WIRE[p.verdict] ?? 'VERDICT_NONE',
        reason: p.verdict === 'allow' ? 'DROP_REASON_NONE' : reasonToWire(p.reason),
        packets,
        bytes,
      });
    }
    this.prevPairs = nextPairs;

    for (const [reason, c] of Object.entries(reasons)) {
      const prev = this.prevReasons.get(reason);
      this.prevReasons.set(reason, c.packets);
      const inc = prev !== undefined && c.packets >= prev ? c.packets - prev : c.packets;
      if (record && inc > 0) this.metrics.drops.inc({ reason }, inc);
    }
    // Label sets exist from the start, so dashboards see 0 rather than nothing.
    for (const r of ['policy', 'spoofed', 'malformed', 'fragment', 'no_connection', 'plaintext']) this.metrics.drops.inc({ reason: r }, 0);

    for (const [map, fill] of Object.entries(this.dp.mapFill())) {
      this.metrics.mapEntries.set({ map }, fill.entries);
      this.metrics.mapMax.set({ map }, fill.max);
    }

    this.metrics.eventsLost.set(this.eventsLost());

    for (let i = 0; i < Math.max(wireFlows.length, wirePairs.length); i += FLOW_BATCH_MAX_RECORDS) {
      this.cut(wireFlows.slice(i, i + FLOW_BATCH_MAX_RECORDS), wirePairs.slice(i, i + FLOW_BATCH_MAX_RECORDS), this.events.take(FLOW_BATCH_MAX_EVENTS), this.windowStart, now);
    }
    this.flushEvents();
    this.windowStart = now;
  }
}
