// SPDX-License-Identifier: Apache-2.0
/**
 * Flow counters from every enforcer, aggregated: per segment pair into the
 * Prometheus counters (labels bounded by the segments the controller knows),
 * per flow into a bounded table behind GET /v1/flows.
 */
import { randomBytes } from 'node:crypto';
import { Counter, Registry } from 'prom-client';
import { FlowBatch, FlowTuple, WIRE_TO_VERDICT, wireToReason } from '../../../../../proto/cordon/v1/control';
import { DROP_REASON_NAMES } from '../../../../../native/lib/abi';
import type { SegmentNames } from '../control.ports';
import { trimOldest } from '../../../../common/src/lru';
import { CumulativeFeed, SHARED_HELP, pruneSeries, segmentsIn } from '../../../../common/src/metric-catalog';
import type { FlowFacts, FlowQuery } from './flow-query';

export type { FlowQuery } from './flow-query';

export interface FlowView extends FlowTuple {
  enforcer: string;
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
  /**
   * The datapath's class of the flow's first payload: tls, dtls, ssh, quic (encrypted), plaintext, mqtt,
   * http, coap (in clear), pending (no payload yet); unknown from an enforcer that does not send it.
   */
  encryption: string;
  /** ICMP and ICMPv6: the message's type and code (null for other protocols, or when the enforcer did not send them). */
  icmpType: number | null;
  icmpCode: number | null;
  /** The DNS name the source resolved dst from, as the enforcer learned it (fqdn policies); null when none. */
  dstName: string | null;
}

/** A page of flows and where the next poll starts (`after`): the receive order, not the flows' own times. */
export interface FlowPage {
  items: FlowView[];
  cursor: string;
}

/** Flows summed by segment pair and verdict: what a stream sends instead of rows beyond its rate. */
export interface PairCount {
  srcSegment: string;
  dstSegment: string;
  verdict: string;
  flows: number;
  packets: number;
  bytes: number;
}

export interface FlowChanges {
  rows: FlowView[];
  aggregated: number;
  pairs: PairCount[];
  restCursor: string;
  cursor: string;
}

/** cordon_drops_total's reason label values (DESIGN.md): every drop reason of the kernel ABI. */
export const DROP_REASONS: readonly string[] = DROP_REASON_NAMES;

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function flowMetrics(registry: Registry) {
  const labelNames = ['src_segment', 'dst_segment', 'verdict'] as const;
  const H = SHARED_HELP;
  return {
    packets: reuse(registry, 'cordon_flow_packets_total', () => new Counter({ name: 'cordon_flow_packets_total', help: H.cordon_flow_packets_total, labelNames, registers: [registry] })),
    bytes: reuse(registry, 'cordon_flow_bytes_total', () => new Counter({ name: 'cordon_flow_bytes_total', help: H.cordon_flow_bytes_total, labelNames, registers: [registry] })),
    drops: reuse(registry, 'cordon_drops_total', () => new Counter({ name: 'cordon_drops_total', help: H.cordon_drops_total, labelNames: ['reason'], registers: [registry] })),
    events: reuse(registry, 'cordon_security_events_total', () => new Counter({ name: 'cordon_security_events_total', help: H.cordon_security_events_total, labelNames: ['verdict', 'reason'], registers: [registry] })),
    eventsLost: reuse(registry, 'cordon_security_events_lost_total', () => new Counter({ name: 'cordon_security_events_lost_total', help: H.cordon_security_events_lost_total, labelNames: ['enforcer'], registers: [registry] })),
    batchesDropped: reuse(registry, 'cordon_flow_batches_dropped_total', () => new Counter({ name: 'cordon_flow_batches_dropped_total', help: H.cordon_flow_batches_dropped_total, labelNames: ['enforcer'], registers: [registry] })),
  };
}

/**
 * A flow as the table keeps it: counters and times as numbers, verdict and
 * reason as the wire's names; list() turns it into a FlowView. Building the
 * view's strings (two ISO dates, names) on every record was a third of the
 * control channel's time per record under a flow storm.
 */
interface FlowEntry extends FlowTuple {
  enforcer: string;
  verdict: string;
  reason: string;
  ruleId: number;
  packetsFwd: number;
  bytesFwd: number;
  packetsRev: number;
  bytesRev: number;
  /** Unix ms. */
  firstSeen: number;
  lastSeen: number;
  encryption: string;
  /** ICMP: type << 8 | code; 0 unknown. */
  policyPort: number;
  /** '' when none. */
  dstName: string;
  /** Receive order: the aggregator's record counter when a record of this flow last arrived (unique per entry). */
  seq: number;
}

/** A time as ISO text; one out of Date's range (which toISOString throws on) reads as the epoch rather than failing the list. */
const isoTime = (ms: number) => new Date(Math.abs(ms) <= 8.64e15 ? ms : 0).toISOString();

/** Segment names are looked up when listed: a flow that arrived before its generation was known gets them too. */
function view(e: FlowEntry, names: SegmentNames): FlowView {
  return {
    enforcer: e.enforcer,
    src: e.src,
    dst: e.dst,
    sport: e.sport,
    dport: e.dport,
    protocol: e.protocol,
    family: e.family,
    srcIdentity: e.srcIdentity,
    dstIdentity: e.dstIdentity,
    srcSegment: names.segmentOf(e.srcIdentity),
    dstSegment: names.segmentOf(e.dstIdentity),
    verdict: WIRE_TO_VERDICT[e.verdict] ?? 'none',
    reason: wireToReason(e.reason),
    ruleId: e.ruleId,
    packetsFwd: e.packetsFwd,
    bytesFwd: e.bytesFwd,
    packetsRev: e.packetsRev,
    bytesRev: e.bytesRev,
    packets: e.packetsFwd + e.packetsRev,
    bytes: e.bytesFwd + e.bytesRev,
    firstSeen: isoTime(e.firstSeen),
    lastSeen: isoTime(e.lastSeen),
    encryption: e.encryption || 'unknown',
    icmpType: icmp(e) ? e.policyPort >> 8 : null,
    icmpCode: icmp(e) ? e.policyPort & 0xff : null,
    dstName: e.dstName || null,
  };
}

const icmp = (e: FlowEntry) => (e.protocol === 1 || e.protocol === 58) && e.policyPort !== 0;

export class FlowAggregator {
  private flows = new Map<string, FlowEntry>();
  /** Records received so far; with `epoch`, the cursor of GET /v1/flows. */
  private seq = 0;
  /** Tells this process's cursors from another's (a restarted or other controller). */
  private readonly epoch = randomBytes(4).toString('hex');
  private readonly m: ReturnType<typeof flowMetrics>;
  readonly batches: Counter<'enforcer'>;
  /** The enforcers' cumulative counts (batches dropped, events lost) as last reported: the counters take what they moved by. */
  private readonly reported = new CumulativeFeed();

  constructor(
    registry: Registry,
    /** Segment names of the current generation (CurrentGeneration, in the controller). */
    private readonly names: SegmentNames,
    private readonly maxFlows = 50_000,
  ) {
    this.m = flowMetrics(registry);
    this.batches = reuse(registry, 'cordon_flow_batches_total', () => new Counter({ name: 'cordon_flow_batches_total', help: 'Flow batches received', labelNames: ['enforcer'], registers: [registry] }));
    // Every reason from the start, so dashboards and alerts see 0 rather than no series.
    for (const r of DROP_REASONS) this.m.drops.inc({ reason: r }, 0);
    this.duplicates = reuse(registry, 'cordon_flow_batches_duplicate_total', () => new Counter({ name: 'cordon_flow_batches_duplicate_total', help: 'Flow batches sent again (after a move or a lost acknowledgement) that a controller of the site had already taken: acknowledged, not counted', labelNames: ['enforcer'], registers: [registry] }));
  }
  private readonly duplicates: Counter;

  /** A batch acknowledged without being counted: it was taken before. */
  duplicate(enforcer: string): void {
    this.duplicates.inc({ enforcer });
  }

  /** Removes the segment pair series of segments the generation no longer has (names: its IdentityNames). */
  async pruneSegments(names: { has(name: string): boolean }): Promise<void> {
    await pruneSeries(this.m.packets, segmentsIn(names));
    await pruneSeries(this.m.bytes, segmentsIn(names));
  }

  ingest(enforcer: string, b: FlowBatch): void {
    this.batches.inc({ enforcer });
    this.m.batchesDropped.inc({ enforcer }, this.reported.delta(`batches|${enforcer}`, b.droppedBatches));
    for (const p of b.pairs) {
      const verdict = WIRE_TO_VERDICT[p.verdict];
      if (verdict !== 'allow' && verdict !== 'deny' && verdict !== 'audit') continue;
      const labels = { src_segment: this.names.segmentOf(p.srcIdentity), dst_segment: this.names.segmentOf(p.dstIdentity), verdict };
      if (p.packets > 0) this.m.packets.inc(labels, p.packets);
      if (p.bytes > 0) this.m.bytes.inc(labels, p.bytes);
      // As the datapath counts them (cordon_reason_stats): every packet with a drop reason, refused or audited.
      const reason = wireToReason(p.reason);
      if (reason !== 'none' && p.packets > 0) this.m.drops.inc({ reason }, p.packets);
    }
    for (const e of b.events ?? []) this.m.events.inc({ verdict: WIRE_TO_VERDICT[e.verdict] ?? 'deny', reason: wireToReason(e.reason) });
    if (b.eventsLost !== undefined) this.m.eventsLost.inc({ enforcer }, this.reported.delta(`events|${enforcer}`, b.eventsLost));
    const flows = b.flows;
    const now = Date.now();
    for (let i = 0; i < flows.length; i++) {
      const f = flows[i];
      const seq = ++this.seq;
      const key = `${enforcer}|${f.family}|${f.protocol}|${f.src}|${f.sport}|${f.dst}|${f.dport}`;
      let v = this.flows.get(key);
      if (v) {
        this.flows.delete(key); // re-insert: the Map's order is the LRU order
        v.srcIdentity = f.srcIdentity;
        v.dstIdentity = f.dstIdentity;
        v.verdict = f.verdict;
        v.reason = f.reason;
        v.ruleId = f.ruleId;
        v.packetsFwd += f.packetsFwd;
        v.bytesFwd += f.bytesFwd;
        v.packetsRev += f.packetsRev;
        v.bytesRev += f.bytesRev;
        v.lastSeen = f.lastSeen || b.windowEnd || now;
        if (f.encryption) v.encryption = f.encryption;
        if (f.policyPort) v.policyPort = f.policyPort;
        if (f.dstName) v.dstName = f.dstName;
        v.seq = seq;
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
          verdict: f.verdict,
          reason: f.reason,
          ruleId: f.ruleId,
          packetsFwd: f.packetsFwd,
          bytesFwd: f.bytesFwd,
          packetsRev: f.packetsRev,
          bytesRev: f.bytesRev,
          firstSeen: f.firstSeen || b.windowStart || now,
          lastSeen: f.lastSeen || b.windowEnd || now,
          encryption: f.encryption ?? '',
          policyPort: f.policyPort ?? 0,
          dstName: f.dstName ?? '',
          seq,
        };
      }
      this.flows.set(key, v);
    }
    // The least recently seen go in one pass, down to 7/8 of the bound.
    trimOldest(this.flows, this.maxFlows);
  }

  /** Most recently received first (the same as most recently seen, but for a flow reported late). */
  list(q: FlowQuery = {}): FlowView[] {
    return this.page(q).items;
  }

  /**
   * Most recently received first, and the cursor to poll on with `after`. With `after`, only flows whose
   * records arrived since; when more matched than `limit`, the oldest of them, so that the next poll
   * goes on from there instead of skipping what did not fit.
   */
  page(q: FlowQuery = {}): FlowPage {
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 10_000));
    const matched: FlowEntry[] = [];
    for (const f of this.matching(q)) {
      matched.push(f);
      if (!q.after && matched.length >= limit) break;
    }
    const kept = matched.length > limit ? matched.slice(matched.length - limit) : matched;
    const last = matched.length > limit ? kept[0].seq : this.seq;
    return { items: kept.map((f) => view(f, this.names)), cursor: `${this.epoch}.${last}` };
  }

  /** The cursor of "now": a stream opened without `after` starts here. */
  cursor(): string {
    return `${this.epoch}.${this.seq}`;
  }

  /**
   * What GET /v1/flows/stream sends on a tick: the flows received after `q.after` that match, the newest
   * `maxRows` of them as rows (oldest first), the older rest only counted by segment pair and verdict.
   * `restCursor` is where the counted part ends (the rows follow it), `cursor` where the rows end.
   */
  changes(q: FlowQuery, maxRows: number): FlowChanges {
    // Two passes over the table in place, oldest first: a stream ticks often under a storm, so
    // nothing here is sized by the storm but the rows it sends (no copy of the table, no list of matches).
    const after = this.afterSeq(q.after);
    let total = 0;
    for (const f of this.flows.values()) if (f.seq > after && this.passes(f, q)) total++;
    const skip = total - Math.max(0, Math.min(maxRows, total));
    const rows: FlowView[] = [];
    const pairs = new Map<string, PairCount>();
    let firstRowSeq = 0;
    let i = 0;
    for (const f of this.flows.values()) {
      if (f.seq <= after || !this.passes(f, q)) continue;
      if (i++ >= skip) {
        if (!rows.length) firstRowSeq = f.seq;
        rows.push(view(f, this.names));
        continue;
      }
      const srcSegment = this.names.segmentOf(f.srcIdentity);
      const dstSegment = this.names.segmentOf(f.dstIdentity);
      const verdict = WIRE_TO_VERDICT[f.verdict] ?? 'none';
      const k = `${srcSegment}|${dstSegment}|${verdict}`;
      let p = pairs.get(k);
      if (!p) pairs.set(k, (p = { srcSegment, dstSegment, verdict, flows: 0, packets: 0, bytes: 0 }));
      p.flows++;
      p.packets += f.packetsFwd + f.packetsRev;
      p.bytes += f.bytesFwd + f.bytesRev;
    }
    return {
      rows,
      aggregated: skip,
      pairs: [...pairs.values()],
      restCursor: `${this.epoch}.${rows.length ? firstRowSeq - 1 : this.seq}`,
      cursor: this.cursor(),
    };
  }

  /** Flows received after `q.after` (all without it) that pass the filters, most recently received first. */
  private *matching(q: FlowQuery): Generator<FlowEntry> {
    const after = this.afterSeq(q.after);
    const all = [...this.flows.values()];
    for (let i = all.length - 1; i >= 0; i--) {
      const f = all[i];
      // The map is in receive order (an update re-inserts): older entries only follow.
      if (f.seq <= after) break;
      if (this.passes(f, q)) yield f;
    }
  }

  /** The receive sequence a cursor stands for; another process's cursor (a restart, another controller of the site) is 0: everything held is new here. */
  private afterSeq(cursor: string | undefined): number {
    if (!cursor) return 0;
    const [epoch, n] = cursor.split('.');
    return epoch === this.epoch && /^\d+$/.test(n ?? '') ? Number(n) : 0;
  }

  private passes(f: FlowEntry, q: FlowQuery): boolean {
    if (q.since !== undefined && f.lastSeen <= q.since) return false;
    if (q.verdict && (WIRE_TO_VERDICT[f.verdict] ?? 'none') !== q.verdict) return false;
    if (q.enforcer && f.enforcer !== q.enforcer) return false;
    if (q.segment || q.match) {
      const srcSegment = this.names.segmentOf(f.srcIdentity);
      const dstSegment = this.names.segmentOf(f.dstIdentity);
      if (q.segment && srcSegment !== q.segment && dstSegment !== q.segment) return false;
      if (q.match && !q.match(facts(f, srcSegment, dstSegment))) return false;
    }
    return true;
  }
}

function facts(f: FlowEntry, srcSegment: string, dstSegment: string): FlowFacts {
  return {
    enforcer: f.enforcer,
    src: f.src,
    dst: f.dst,
    sport: f.sport,
    dport: f.dport,
    protocol: f.protocol,
    verdict: WIRE_TO_VERDICT[f.verdict] ?? 'none',
    reason: wireToReason(f.reason),
    ruleId: f.ruleId,
    encryption: f.encryption,
    lastSeen: f.lastSeen,
    srcSegment,
    dstSegment,
    dstName: f.dstName,
  };
}
