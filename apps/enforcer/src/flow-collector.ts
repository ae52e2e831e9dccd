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
 * table's) and the interface's name.
 */
import type { FlowBatch, WireFlowRecord, WirePairCounter, WireSecurityEvent } from '../../../proto/cordon/v1/control';
import { FLOW_BATCH_MAX_EVENTS, FLOW_BATCH_MAX_RECORDS, VERDICT_TO_WIRE, reasonToWire } from '../../../proto/cordon/v1/control';
import { IdentityNames } from '../../../model/generation/names';
import { decodeFlow, FLOW_ENTRY, FLOW_FLAG, readU64 } from '../../../native/lib/datapath';
import type { RawFlows } from '../../../native/lib/datapath';
import { REASON, REASON_NAME } from '../../../native/lib/abi';
import type { DatapathEvent, DatapathFlow, DatapathPort } from './datapath.port';
import type { InterfaceNames, NeighbourMacs } from './interface-names';
import { advanceCounters, RawFlowCounters } from './raw-flow-counters';
import type { EnforcerMetrics } from './metrics';

export class BoundedQueue<T> {
  private items: T[] = [];
  private waiters: Array<{ n: number; done: (ok: boolean) => void }> = [];
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
    const x = this.items.shift();
    this.wake();
    return x;
  }
  /** Removes and returns up to n items, oldest first. */
  take(n: number): T[] {
    const out = this.items.splice(0, n);
    this.wake();
    return out;
  }
  get length(): number {
    return this.items.length;
  }
  /** Resolves true once fewer than n items are queued, false when timeoutMs passes first. */
  waitBelow(n: number, timeoutMs: number): Promise<boolean> {
    if (this.items.length < n) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        n,
        done: (ok: boolean) => {
          clearTimeout(t);
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(ok);
        },
      };
      const t = setTimeout(() => w.done(false), timeoutMs);
      this.waiters.push(w);
    });
  }
  private wake(): void {
    for (const w of [...this.waiters]) if (this.items.length < w.n) w.done(true);
  }
}

/** Monotonic ns (bpf_ktime_get_ns, CLOCK_MONOTONIC like process.hrtime) to wall-clock ms. */
export function monoNsToEpochMs(ns: number): number {
  if (!ns) return 0;
  const nowNs = Number(process.hrtime.bigint());
  return Math.max(0, Math.round(Date.now() - (nowNs - ns) / 1e6));
}

/** A flow of a datapath without flowsRaw() (recording datapaths): its identity, first packet included. */
const flowKey = (f: DatapathFlow) => `${f.family}|${f.protocol}|${f.src}|${f.sport}|${f.dst}|${f.dport}|${f.firstSeenNs}`;
const pairKey = (p: { srcIdentity: number; dstIdentity: number; verdict: string; reason: string }) => `${p.srcIdentity}|${p.dstIdentity}|${p.verdict}|${p.reason}`;

/**
 * The counters each decoded flow (datapaths without flowsRaw()) had at the
 * previous poll: a Map from the flow's identity string to a slot in typed
 * arrays. Raw dumps use RawFlowCounters, which needs no key object at all.
 * Flows absent from a poll are forgotten by sweep().
 */
export class FlowCounters {
  private readonly slots = new Map<string, number>();
  private counters = new Float64Array(4 * 1024);
  private marks = new Uint32Array(1024);
  private free: number[] = [];
  private used = 0;
  private epoch = 0;

  get size(): number {
    return this.slots.size;
  }

  /** Starts a poll: every flow not seen() before sweep() is forgotten. */
  begin(): void {
    this.epoch = (this.epoch + 1) >>> 0 || 1;
  }

  /**
   * Records a flow's cumulative counters; writes the increments since the
   * previous poll into inc (a counter lower than before restarts from 0: the
   * entry was evicted and re-created, count it whole). Returns true when new.
   */
  seen(key: string, pf: number, bf: number, pr: number, br: number, inc: Float64Array): boolean {
    let slot = this.slots.get(key);
    const fresh = slot === undefined;
    if (slot === undefined) {
      slot = this.free.pop() ?? this.grow();
      this.slots.set(key, slot);
    }
    advanceCounters(this.counters, slot * 4, fresh, pf, bf, pr, br, inc);
    this.marks[slot] = this.epoch;
    return fresh;
  }

  /** Forgets the flows this poll did not see (expired or evicted in the kernel). */
  sweep(): void {
    for (const [k, slot] of this.slots) {
      if (this.marks[slot] !== this.epoch) {
        this.slots.delete(k);
        this.free.push(slot);
      }
    }
    // Shrink once most slots are free (a storm has passed), so memory follows the table.
    if (this.used > 4096 && this.slots.size < this.used / 4) this.compact();
  }

  private grow(): number {
    if (this.used === this.marks.length) {
      const marks = new Uint32Array(this.marks.length * 2);
      marks.set(this.marks);
      this.marks = marks;
      const counters = new Float64Array(this.counters.length * 2);
      counters.set(this.counters);
      this.counters = counters;
    }
    return this.used++;
  }

  private compact(): void {
    const n = Math.max(1024, 1 << Math.ceil(Math.log2(this.slots.size * 2 || 1)));
    const counters = new Float64Array(4 * n);
    const marks = new Uint32Array(n);
    let next = 0;
    for (const [k, slot] of this.slots) {
      counters.set(this.counters.subarray(slot * 4, slot * 4 + 4), next * 4);
      marks[next] = this.marks[slot];
      this.slots.set(k, next++);
    }
    this.counters = counters;
    this.marks = marks;
    this.used = next;
    this.free = [];
  }
}

/** The last MAC a drop event showed for a source address on this enforcer (flows of sources that no Device binds carry none). */
class SourceMacs {
  private readonly macs = new Map<string, string>();
  constructor(private readonly max = 4096) {}
  set(src: string, mac: string): void {
    if (!mac || mac === '00:00:00:00:00:00') return;
    if (this.macs.get(src) === mac) return;
    this.macs.delete(src);
    this.macs.set(src, mac);
    // Oldest out in one pass down to 7/8 (one delete per insert rescans the holes deletes leave).
    if (this.macs.size > this.max) {
      let n = this.macs.size - (this.max - (this.max >> 3));
      for (const k of this.macs.keys()) {
        if (n-- <= 0) break;
        this.macs.delete(k);
      }
    }
  }
  get(src: string): string {
    return this.macs.get(src) ?? '';
  }
}

/** Where the flows whose counters changed are (see poll()), and their increments, 4 a flow. */
interface Changed {
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
  private readonly live = new RawFlowCounters();
  private readonly denied = new RawFlowCounters();
  private readonly objects = new FlowCounters();
  private readonly macs = new SourceMacs();
  private readonly ifnames: InterfaceNames | null;
  private readonly neighbours: NeighbourMacs | null;
  private lastMapFill = -Infinity;
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
    opts: {
      queueBatches?: number;
      baseline?: boolean;
      /** Where an adopted datapath's counters stood when the daemon opened it: only what moved since is reported. */
      baselineFlows?: RawFlows;
      queueEvents?: number;
      onQueued?: () => void;
      interfaceNames?: InterfaceNames;
      neighbours?: NeighbourMacs;
    } = {},
  ) {
    this.ifnames = opts.interfaceNames ?? null;
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
  /** When true, the first poll only records where counters stand (an adopted datapath's history was reported by the previous run). */
  private baseline: boolean;

  /**
   * Diffs both raw flow tables against the previous poll, calling note(at,
   * ifindex) after each entry with its increments in inc; live and denied
   * entries are told apart by the sign of at.
   */
  private diffRaw(raw: RawFlows, inc: Float64Array, note: (at: number, ifindex: number) => void): void {
    const tables: Array<[RawFlowCounters, Buffer]> = [[this.live, raw.live], [this.denied, raw.denied]];
    for (const [t, buf] of tables) {
      t.begin();
      for (let o = 0; o + FLOW_ENTRY.STRIDE <= buf.length; o += FLOW_ENTRY.STRIDE) {
        t.seen(buf, o, readU64(buf, o + FLOW_ENTRY.PACKETS_FWD), readU64(buf, o + FLOW_ENTRY.BYTES_FWD), readU64(buf, o + FLOW_ENTRY.PACKETS_REV), readU64(buf, o + FLOW_ENTRY.BYTES_REV), inc);
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
    const raw = this.dp.flowsRaw ? await this.dp.flowsRaw() : null;
    const objects = raw ? null : await this.dp.flows();
    const [pairs, reasons] = [this.dp.pairStats(), this.dp.reasonStats()];
    const now = Date.now();
    const names = new IdentityNames(this.identities());
    const seg = (id: number) => names.segmentOf(id);
    const record = !this.baseline;
    this.baseline = false;

    // 1. Diff every flow's counters against the previous poll; remember where the changed ones are.
    const changed: Changed = { at: [], inc: [], ifindexes: new Set() };
    const inc = new Float64Array(4);
    const note = (at: number, ifindex: number) => {
      if (!record || inc[0] + inc[2] === 0) return;
      changed.at.push(at);
      changed.inc.push(inc[0], inc[1], inc[2], inc[3]);
      changed.ifindexes.add(ifindex);
    };
    if (raw) this.diffRaw(raw, inc, note);
    if (objects) {
      this.objects.begin();
      objects.forEach((f, i) => {
        this.objects.seen(flowKey(f), f.packetsFwd, f.bytesFwd, f.packetsRev, f.bytesRev, inc);
        note(i, f.ifindex);
      });
      this.objects.sweep();
    }
    if (this.ifnames && changed.ifindexes.size > 0) await this.ifnames.resolve(changed.ifindexes);
    if (this.neighbours && changed.at.length > 0) await this.neighbours.refresh();

    // 2. Decode only the changed flows, FLOW_BATCH_MAX_RECORDS at a time.
    // Monotonic ns to wall-clock ms with one clock reading per poll, not two per flow.
    const offsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;
    const epochMs = (ns: number) => (ns ? Math.max(0, Math.round(ns / 1e6 + offsetMs)) : 0);
    const flowAt = (i: number): DatapathFlow => {
      const at = changed.at[i];
      if (objects) return objects[at];
      return at >= 0 ? decodeFlow(raw!.live, at) : decodeFlow(raw!.denied, -1 - at);
    };
    const wireFlow = (i: number): WireFlowRecord => {
      const f = flowAt(i);
      const k = i * 4;
      const w: WireFlowRecord = {
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
        packetsFwd: changed.inc[k],
        bytesFwd: changed.inc[k + 1],
        packetsRev: changed.inc[k + 2],
        bytesRev: changed.inc[k + 3],
        firstSeen: epochMs(f.firstSeenNs),
        lastSeen: epochMs(f.lastSeenNs),
        ifindex: f.ifindex,
      };
      // Optional strings only when known: an empty one still costs the encoder a field (proto3 reads it back as '').
      const encryption = f.encryption;
      if (encryption) w.encryption = encryption;
      // ICMP's type and code: its ports carry the echo identifier (issue 17: `cordon flows` names the message).
      if ((f.protocol === 1 || f.protocol === 58) && f.policyPort) w.policyPort = f.policyPort;
      const srcMac = f.srcMac || this.macs.get(f.src) || (this.neighbours?.get(f.src) ?? '');
      if (srcMac) w.srcMac = srcMac;
      const ifname = this.ifnames?.get(f.ifindex);
      if (ifname) w.interface = ifname;
      return w;
    };

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
    for (const [code, r] of Object.entries(REASON_NAME)) if (Number(code) !== REASON.NONE) this.metrics.drops.inc({ reason: r }, 0);

    // Counting a map's entries walks its keys (a syscall each: 70 ms at 20,000 flows), so with
    // raw dumps the flow tables are counted from them and the whole count runs now and then.
    if (!raw || now - this.lastMapFill >= MAP_FILL_EVERY_MS) {
      this.lastMapFill = now;
      for (const [map, fill] of Object.entries(this.dp.mapFill())) {
        this.metrics.mapEntries.set({ map }, fill.entries);
        this.metrics.mapMax.set({ map }, fill.max);
      }
    }
    if (raw) {
      this.metrics.mapEntries.set({ map: 'flows' }, raw.live.length / FLOW_ENTRY.STRIDE);
      this.metrics.mapEntries.set({ map: 'denied' }, raw.denied.length / FLOW_ENTRY.STRIDE);
    }

    this.metrics.eventsLost.set(this.eventsLost());

    // Batches are built as the stream takes them (at most BATCHES_AHEAD waiting), so a poll of
    // 100,000 new flows holds a few thousand records, not all of them; a stream that does not
    // move within STALL_MS (the controller is away) gets the rest at once, into the bounded queue.
    const n = changed.at.length;
    let stalled = false;
    for (let i = 0; i < Math.max(n, wirePairs.length); i += FLOW_BATCH_RECORDS) {
      if (i > 0) {
        await yieldToIo();
        if (!stalled) stalled = !(await this.queue.waitBelow(BATCHES_AHEAD, STALL_MS));
      }
      const end = Math.min(n, i + FLOW_BATCH_RECORDS);
      const flows = () => {
        const out: WireFlowRecord[] = [];
        for (let k = i; k < end; k++) out.push(wireFlow(k));
        return out;
      };
      this.cut(flows, wirePairs.slice(i, i + FLOW_BATCH_RECORDS), this.events.take(FLOW_BATCH_MAX_EVENTS), this.windowStart, now);
    }
    this.flushEvents();
    this.windowStart = now;
  }
}
