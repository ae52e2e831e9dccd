// SPDX-License-Identifier: Apache-2.0
/**
 * Turns the datapath's cumulative counters into increments: per flow and per
 * segment pair, into the enforcer's metrics and into flow batches for the
 * controller, queued in a bounded queue (oldest dropped and counted) while the
 * controller is away.
 *
 * Between polls only each flow's four counters are kept (RawFlowCounters: a
 * typed-array hash table keyed by the entry's raw 5-tuple and first packet time);
 * the kernel's tables are read as raw dumps and only the flows whose counters
 * moved are decoded and sent. Records carry the source's MAC (bound, else the
 * last a drop event of that source showed, else the namespace's neighbour
 * table's) and the interface's name. Pair figures are the kernel's pair
 * counters plus what connection entries counted for their pair
 * (flow-collector-pairs.ts: the fast path leaves them there).
 */
import { randomUUID } from 'node:crypto';
import type { FlowBatch, WireFlowRecord, WirePairCounter, WireSecurityEvent } from '../../../proto/cordon/v1/control';
import { FLOW_BATCH_MAX_EVENTS, FLOW_BATCH_MAX_RECORDS, VERDICT_TO_WIRE, reasonToWire } from '../../../proto/cordon/v1/control';
import { IdentityNames } from '../../../model/generation/names';
import { decodeFlow, readU64 } from '../../../native/lib/decode';
import type { RawFlows } from '../../../native/lib/records';
import { DROP_REASON_NAMES, FLOW_ENTRY } from '../../../native/lib/abi';
import type { DatapathEvent, DatapathFlow, DatapathPort } from './datapath.port';
import type { InterfaceNames, NeighbourMacs } from './interface-names';
import { PAIR_INCREMENTS, RawFlowCounters } from './raw-flow-counters';
import { FlowPairSums } from './flow-collector-pairs';
import type { EnforcerMetrics } from './metrics';
import { BoundedQueue } from './flow-collector-queue';
import { FlowCounters, PairCount, PairCounters, ReasonCounters, SourceMacs } from './flow-collector-counters';
import { monoNsToEpochMs, monoToEpochMsNow, wireFlow, wirePair } from './flow-collector-wire';

export { BoundedQueue } from './flow-collector-queue';
export { FlowCounters } from './flow-collector-counters';
export { monoNsToEpochMs } from './flow-collector-wire';

/** A flow of a datapath without flowsRaw() (recording datapaths): its identity, first packet included. */
const flowKey = (f: DatapathFlow) => `${f.family}|${f.protocol}|${f.src}|${f.sport}|${f.dst}|${f.dport}|${f.firstSeenNs}`;

/** What one poll read of the datapath. */
interface Reading {
  /** Both flow tables undecoded, when the datapath has flowsRaw(); else objects. */
  raw: RawFlows | null;
  objects: DatapathFlow[] | null;
  pairs: readonly PairCount[];
  reasons: Record<string, { packets: number; bytes: number }>;
  now: number;
}

/** Where the flows whose counters changed are (in a Reading), and their increments, 4 a flow. */
interface Changed {
  /** Index into objects, or byte offset into raw.live (>= 0) or raw.denied (-1 - offset). */
  at: number[];
  inc: number[];
  ifindexes: Set<number>;
}

/**
 * Records per batch: below the protocol's FLOW_BATCH_MAX_RECORDS so that the
 * controller works on one batch while the next is built, encoded and sent
 * (with 5,000 the two sides mostly took turns: 45,000 flows/s from one enforcer, 62,000 with 1,000).
 */
export const FLOW_BATCH_RECORDS = Math.min(FLOW_BATCH_MAX_RECORDS, 1000);

/** Batches of one poll queued ahead of the stream before the next is built. */
const BATCHES_AHEAD = 2;
/** How long a poll waits for the stream to take a batch before queueing the rest at once. */
const STALL_MS = 1000;

/** How often a poll counts every map's entries when the flow tables come as raw dumps. */
const MAP_FILL_EVERY_MS = 10_000;

const yieldToIo = () => new Promise<void>((r) => setImmediate(r));

export class FlowCollector {
  /** Previous counters: of the live and denied tables of a raw dump, or of flows() objects. */
  private readonly live = new RawFlowCounters(true);
  private readonly denied = new RawFlowCounters();
  /** This poll's pair increments of connection entries (flow-collector-pairs.ts). */
  private readonly flowPairs = new FlowPairSums();
  private readonly pairInc = new Float64Array(PAIR_INCREMENTS);
  private readonly objects = new FlowCounters();
  private readonly macs = new SourceMacs();
  private readonly ifnames: InterfaceNames | null;
  private readonly neighbours: NeighbourMacs | null;
  private lastMapFill = -Infinity;
  /** The identities the pair series were last pruned to. */
  private prunedFor: Readonly<Record<string, number>> | null = null;
  private readonly pairCounters = new PairCounters();
  private readonly reasonCounters = new ReasonCounters();
  private seq = 0;
  /** This run of the daemon: seq counts from 1 in it (the controller deduplicates by enforcer, run and seq). */
  readonly run = randomUUID();
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
    opts: {
      queueBatches?: number;
      baseline?: boolean;
      /** Where an adopted datapath's counters stood when the daemon opened it: only what moved since is reported. */
      baselineFlows?: RawFlows;
      queueEvents?: number;
      onQueued?: () => void;
      interfaceNames?: InterfaceNames;
      neighbours?: NeighbourMacs;
      /** The DNS name learned for a destination address (fqdn/learned-names.ts): flows' dst_name. */
      dstName?: (address: string) => string | undefined;
    } = {},
  ) {
    this.ifnames = opts.interfaceNames ?? null;
    this.dstName = opts.dstName ?? null;
    this.neighbours = opts.neighbours ?? null;
    this.onQueued = opts.onQueued ?? (() => undefined);
    this.queue = new BoundedQueue(opts.queueBatches ?? 120);
    this.events = new BoundedQueue(opts.queueEvents ?? 10_000);
    this.baseline = opts.baseline ?? false;
    if (opts.baselineFlows) {
      this.diffRaw(opts.baselineFlows, new Float64Array(4), () => undefined);
      this.baseline = false;
    }
  }
  private readonly onQueued: () => void;
  private readonly dstName: ((address: string) => string | undefined) | null;
  /** When true, the first poll only records where counters stand (an adopted datapath's history was reported by the previous run). */
  private baseline: boolean;

  /**
   * Diffs both raw flow tables against the previous poll, calling note(at,
   * ifindex) after each entry with its increments in inc; live and denied
   * entries are told apart by the sign of at. Connection entries' pair
   * increments go into flowPairs when record is set.
   */
  private diffRaw(raw: RawFlows, inc: Float64Array, note: (at: number, ifindex: number) => void, record = false): void {
    const tables: Array<[RawFlowCounters, Buffer]> = [[this.live, raw.live], [this.denied, raw.denied]];
    const pi = this.pairInc;
    for (const [t, buf] of tables) {
      t.begin();
      for (let o = 0; o + FLOW_ENTRY.STRIDE <= buf.length; o += FLOW_ENTRY.STRIDE) {
        const fresh = t.seen(buf, o, readU64(buf, o + FLOW_ENTRY.PACKETS_FWD), readU64(buf, o + FLOW_ENTRY.BYTES_FWD), readU64(buf, o + FLOW_ENTRY.PACKETS_REV), readU64(buf, o + FLOW_ENTRY.BYTES_REV), inc);
        if (t === this.live) {
          t.pairIncrements(buf, o, fresh, pi);
          if (record) this.flowPairs.add(pi, buf.readUInt32LE(o + FLOW_ENTRY.SRC_IDENTITY) * 256 + buf[o + FLOW_ENTRY.VERDICT], buf.readUInt32LE(o + FLOW_ENTRY.DST_IDENTITY) * 256 + buf[o + FLOW_ENTRY.REASON]);
        }
        note(t === this.live ? o : -1 - o, buf.readUInt32LE(o + FLOW_ENTRY.IFINDEX));
      }
      t.sweep();
    }
  }

  /** Takes events from the datapath's ring buffer (called on its poller's batches). */
  pushEvents(evs: readonly DatapathEvent[]): void {
    for (const e of evs) {
      if (e.verdict !== 'deny' && e.verdict !== 'audit') continue;
      this.macs.set(e.src, e.srcMac);
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
        interface: this.ifnames?.get(e.ifindex) ?? '',
      });
    }
    this.metrics.eventsLostSinceStart(this.eventsLost());
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

  /**
   * Queues a batch. flows may be a function that builds the records: the batch
   * then builds them each time its `flows` is read (the flow loop reads it once,
   * right before serialising), so the records live for one write instead of
   * from the poll until the stream takes them, long enough to be promoted to
   * the old generation and keep the heap (and RSS) large after an export.
   */
  private cut(flows: WireFlowRecord[] | (() => WireFlowRecord[]), pairs: WirePairCounter[], events: WireSecurityEvent[], windowStart: number, windowEnd: number): void {
    const before = this.queue.dropped;
    const batch: FlowBatch = {
      enforcer: this.enforcer,
      seq: ++this.seq,
      generation: this.generation(),
      windowStart,
      windowEnd,
      flows: [],
      pairs,
      droppedBatches: this.queue.dropped,
      events,
      eventsLost: this.eventsLost(),
      run: this.run,
    };
    if (typeof flows === 'function') Object.defineProperty(batch, 'flows', { get: flows, enumerable: true });
    else batch.flows = flows;
    this.queue.push(batch);
    if (this.queue.dropped > before) this.metrics.batchesDropped.inc(this.queue.dropped - before);
    this.onQueued();
  }

  /**
   * Reads the datapath once; updates metrics; queues batches of the flows whose
   * counters changed since the previous poll (increments), the pair counters
   * and pending events. Only changed flows are decoded; batches are queued as
   * they are cut, with a turn of the event loop between them so the first is
   * on the wire while the next is built.
   */
  async poll(): Promise<void> {
    const reading = await this.read();
    const record = !this.baseline;
    this.baseline = false;
    const changed = await this.diff(reading, record);
    const pairs = await this.account(reading, record);
    await this.report(reading, changed, pairs);
  }

  /** 1. Read: both flow tables (raw when the datapath can), pair and reason counters. */
  private async read(): Promise<Reading> {
    const raw = this.dp.flowsRaw ? await this.dp.flowsRaw() : null;
    const objects = raw ? null : await this.dp.flows();
    const pairs = await this.dp.pairStats();
    const reasons = this.dp.reasonStats();
    return { raw, objects, pairs, reasons, now: Date.now() };
  }

  /**
   * 2. Diff every flow's counters against the previous poll; remember where the
   * changed ones are (none when record is false) and learn their interfaces'
   * names and the neighbours' MACs they will be reported with.
   */
  private async diff(r: Reading, record: boolean): Promise<Changed> {
    const changed: Changed = { at: [], inc: [], ifindexes: new Set() };
    const inc = new Float64Array(4);
    const note = (at: number, ifindex: number) => {
      if (!record || inc[0] + inc[2] === 0) return;
      changed.at.push(at);
      changed.inc.push(inc[0], inc[1], inc[2], inc[3]);
      changed.ifindexes.add(ifindex);
    };
    if (r.raw) this.diffRaw(r.raw, inc, note, record);
    if (r.objects) {
      this.objects.begin();
      r.objects.forEach((f, i) => {
        this.objects.seen(flowKey(f), f.packetsFwd, f.bytesFwd, f.packetsRev, f.bytesRev, inc);
        note(i, f.ifindex);
      });
      this.objects.sweep();
    }
    if (this.ifnames && changed.ifindexes.size > 0) await this.ifnames.resolve(changed.ifindexes);
    if (this.neighbours && changed.at.length > 0) await this.neighbours.refresh();
    return changed;
  }

  /** 3. Account: pair, reason and map-fill metrics; returns the pair increments to report. */
  private async account(r: Reading, record: boolean): Promise<WirePairCounter[]> {
    const identities = this.identities();
    const names = new IdentityNames(identities);
    const seg = (id: number) => names.segmentOf(id);
    // A generation without a segment: its series go (new counts of its old identity read as unknown).
    if (identities !== this.prunedFor) {
      this.prunedFor = identities;
      await this.metrics.pruneSegments(names);
    }
    const wirePairs: WirePairCounter[] = [];
    for (const { pair: p, packets, bytes } of this.flowPairs.mergeInto(this.pairCounters.advance(r.pairs))) {
      if (!record || packets === 0) continue;
      const labels = { src_segment: seg(p.srcIdentity), dst_segment: seg(p.dstIdentity), verdict: p.verdict };
      this.metrics.packets.inc(labels, packets);
      this.metrics.bytes.inc(labels, bytes);
      wirePairs.push(wirePair(p, labels.src_segment, labels.dst_segment, packets, bytes));
    }
    for (const [reason, packets] of this.reasonCounters.advance(r.reasons)) if (record && packets > 0) this.metrics.drops.inc({ reason }, packets);
    // Label sets exist from the start, so dashboards see 0 rather than nothing.
    for (const reason of DROP_REASON_NAMES) this.metrics.drops.inc({ reason }, 0);
    await this.accountMapFill(r);
    this.metrics.eventsLostSinceStart(this.eventsLost());
    return wirePairs;
  }

  /**
   * Counting a map's entries walks its keys (a syscall each: 70 ms at 20,000 flows, on the
   * addon's pool threads), so with raw dumps the flow tables are counted from them and the
   * whole count runs now and then.
   */
  private async accountMapFill(r: Reading): Promise<void> {
    if (!r.raw || r.now - this.lastMapFill >= MAP_FILL_EVERY_MS) {
      this.lastMapFill = r.now;
      for (const [map, fill] of Object.entries(await this.dp.mapFill())) {
        this.metrics.mapEntries.set({ map }, fill.entries);
        this.metrics.mapMax.set({ map }, fill.max);
      }
    }
    if (r.raw) {
      this.metrics.mapEntries.set({ map: 'flows' }, r.raw.live.length / FLOW_ENTRY.STRIDE);
      this.metrics.mapEntries.set({ map: 'denied' }, r.raw.denied.length / FLOW_ENTRY.STRIDE);
    }
  }

  /**
   * 4. Report: batches of the changed flows (decoded only now), the pair
   * increments and pending events. Batches are built as the stream takes them
   * (at most BATCHES_AHEAD waiting), so a poll of 100,000 new flows holds a few
   * thousand records, not all of them; a stream that does not move within
   * STALL_MS (the controller is away) gets the rest at once, into the bounded queue.
   */
  private async report(r: Reading, changed: Changed, pairs: WirePairCounter[]): Promise<void> {
    const epochMs = monoToEpochMsNow();
    const flowAt = (i: number): DatapathFlow => {
      const at = changed.at[i];
      if (r.objects) return r.objects[at];
      return at >= 0 ? decodeFlow(r.raw!.live, at) : decodeFlow(r.raw!.denied, -1 - at);
    };
    const record = (i: number): WireFlowRecord => {
      const f = flowAt(i);
      const srcMac = f.srcMac || this.macs.get(f.src) || (this.neighbours?.get(f.src) ?? '');
      return wireFlow(f, changed.inc, i * 4, epochMs, srcMac, this.ifnames?.get(f.ifindex), this.dstName?.(f.dst));
    };
    const n = changed.at.length;
    let stalled = false;
    for (let i = 0; i < Math.max(n, pairs.length); i += FLOW_BATCH_RECORDS) {
      if (i > 0) {
        await yieldToIo();
        if (!stalled) stalled = !(await this.queue.waitBelow(BATCHES_AHEAD, STALL_MS));
      }
      const end = Math.min(n, i + FLOW_BATCH_RECORDS);
      const flows = () => {
        const out: WireFlowRecord[] = [];
        for (let k = i; k < end; k++) out.push(record(k));
        return out;
      };
      this.cut(flows, pairs.slice(i, i + FLOW_BATCH_RECORDS), this.events.take(FLOW_BATCH_MAX_EVENTS), this.windowStart, r.now);
    }
    this.flushEvents();
    this.windowStart = r.now;
  }
}
