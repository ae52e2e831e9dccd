// SPDX-License-Identifier: Apache-2.0
/**
 * Flow counters from every enforcer, aggregated: per segment pair into the
 * Prometheus counters (labels bounded by the segments the controller knows),
 * per flow into a bounded table behind GET /v1/flows.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { FlowBatch, WIRE_TO_VERDICT, wireToReason } from '../../../../../proto/cordon/v1/control';

export interface FlowView {
  enforcer: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family: number;
  srcIdentity: number;
  dstIdentity: number;
  srcSegment: string;
  dstSegment: string;
  verdict: string;
  reason: string;
  ruleId: number;
  packetsFwd: number;
  bytesFwd: number;
  packetsRev: number;
  bytesRev: number;
  packets: number;
  bytes: number;
  firstSeen: string;
  lastSeen: string;
}

export interface FlowQuery {
  limit?: number;
  /** Only flows seen after this instant (ms since epoch): `cordon flows --watch` polls with it. */
  since?: number;
  verdict?: string;
  segment?: string;
  enforcer?: string;
}

/** cordon_drops_total's reason label values (DESIGN.md). */
export const DROP_REASONS = ['policy', 'spoofed', 'malformed', 'fragment', 'no_connection', 'plaintext'] as const;

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function flowMetrics(registry: Registry) {
  const labelNames = ['src_segment', 'dst_segment', 'verdict'] as const;
  return {
    packets: reuse(registry, 'cordon_flow_packets_total', () => new Counter({ name: 'cordon_flow_packets_total', help: 'Packets by segment pair and verdict', labelNames, registers: [registry] })),
    bytes: reuse(registry, 'cordon_flow_bytes_total', () => new Counter({ name: 'cordon_flow_bytes_total', help: 'Bytes by segment pair and verdict', labelNames, registers: [registry] })),
    drops: reuse(registry, 'cordon_drops_total', () => new Counter({ name: 'cordon_drops_total', help: 'Dropped packets by reason', labelNames: ['reason'], registers: [registry] })),
    events: reuse(
      registry,
      'cordon_security_events_total',
      () => new Counter({ name: 'cordon_security_events_total', help: 'Drop and audit events received from enforcers (a rate-limited sample; cordon_drops_total has the exact counts)', labelNames: ['verdict', 'reason'], registers: [registry] }),
    ),
    eventsLost: reuse(
      registry,
      'cordon_security_events_lost',
      () => new Gauge({ name: 'cordon_security_events_lost', help: 'Events an enforcer lost since it started (datapath rate limit or its full queue)', labelNames: ['enforcer'], registers: [registry] }),
    ),
  };
}

export class FlowAggregator {
  private flows = new Map<string, FlowView>();
  private readonly m: ReturnType<typeof flowMetrics>;
  readonly batches: Counter<'enforcer'>;
  readonly batchesDropped: Gauge<'enforcer'>;

  constructor(
    registry: Registry,
    /** Segment name of an identity number in the current generation. */
    private readonly segmentOf: (identity: number) => string,
    private readonly maxFlows = 50_000,
  ) {
    this.m = flowMetrics(registry);
    this.batches = reuse(registry, 'cordon_flow_batches_total', () => new Counter({ name: 'cordon_flow_batches_total', help: 'Flow batches received', labelNames: ['enforcer'], registers: [registry] }));
    // Every reason from the start, so dashboards and alerts see 0 rather than no series.
    for (const r of DROP_REASONS) this.m.drops.inc({ reason: r }, 0);
    this.batchesDropped = reuse(registry, 'cordon_flow_batches_dropped', () => new Gauge({ name: 'cordon_flow_batches_dropped', help: 'Flow batches an enforcer dropped while the controller was away', labelNames: ['enforcer'], registers: [registry] }));
  }

  ingest(enforcer: string, b: FlowBatch): void {
    this.batches.inc({ enforcer });
    this.batchesDropped.set({ enforcer }, b.droppedBatches);
    for (const p of b.pairs) {
      const verdict = WIRE_TO_VERDICT[p.verdict];
      if (verdict !== 'allow' && verdict !== 'deny' && verdict !== 'audit') continue;
      const labels = { src_segment: this.segmentOf(p.srcIdentity), dst_segment: this.segmentOf(p.dstIdentity), verdict };
      if (p.packets > 0) this.m.packets.inc(labels, p.packets);
      if (p.bytes > 0) this.m.bytes.inc(labels, p.bytes);
      if (verdict === 'deny' && p.packets > 0) this.m.drops.inc({ reason: wireToReason(p.reason) }, p.packets);
    }
    for (const e of b.events ?? []) this.m.events.inc({ verdict: WIRE_TO_VERDICT[e.verdict] ?? 'deny', reason: wireToReason(e.reason) });
    if (b.eventsLost !== undefined) this.m.eventsLost.set({ enforcer }, b.eventsLost);
    for (const f of b.flows) {
      const key = `${enforcer}|${f.family}|${f.protocol}|${f.src}|${f.sport}|${f.dst}|${f.dport}`;
      let v = this.flows.get(key);
      if (v) {
        this.flows.delete(key); // re-insert: the Map's order is the LRU order
      } else {
        v = {
          enforcer,
          src: f.src,
          dst: f.dst,
          sport: f.sport,
          dport: f.dport,
          protocol: f.protocol,
          family: f.family,
          srcIdentity: f.srcIdentity,
          dstIdentity: f.dstIdentity,
          srcSegment: '',
          dstSegment: '',
          verdict: '',
          reason: '',
          ruleId: 0,
          packetsFwd: 0,
          bytesFwd: 0,
          packetsRev: 0,
          bytesRev: 0,
          packets: 0,
          bytes: 0,
          firstSeen: new Date(f.firstSeen || b.windowStart || Date.now()).toISOString(),
          lastSeen: '',
        };
      }
      v.srcIdentity = f.srcIdentity;
      v.dstIdentity = f.dstIdentity;
      v.srcSegment = this.segmentOf(f.srcIdentity);
      v.dstSegment = this.segmentOf(f.dstIdentity);
      v.verdict = WIRE_TO_VERDICT[f.verdict] ?? 'none';
      v.reason = wireToReason(f.reason);
      v.ruleId = f.ruleId;
      v.packetsFwd += f.packetsFwd;
      v.bytesFwd += f.bytesFwd;
      v.packetsRev += f.packetsRev;
      v.bytesRev += f.bytesRev;
      v.packets = v.packetsFwd + v.packetsRev;
      v.bytes = v.bytesFwd + v.bytesRev;
      v.lastSeen = new Date(f.lastSeen || b.windowEnd || Date.now()).toISOString();
      this.flows.set(key, v);
      if (this.flows.size > this.maxFlows) this.flows.delete(this.flows.keys().next().value as string);
    }
  }

  /** Most recently seen first. */
  list(q: FlowQuery = {}): FlowView[] {
    const out: FlowView[] = [];
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 10_000));
    const all = [...this.flows.values()].reverse();
    for (const f of all) {
      if (q.since !== undefined && Date.parse(f.lastSeen) <= q.since) continue;
      if (q.verdict && f.verdict !== q.verdict) continue;
      if (q.segment && f.srcSegment !== q.segment && f.dstSegment !== q.segment) continue;
      if (q.enforcer && f.enforcer !== q.enforcer) continue;
      out.push(f);
      if (out.length >= limit) break;
    }
    return out;
  }
}
