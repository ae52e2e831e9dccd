// SPDX-License-Identifier: Apache-2.0
/**
 * Unknown devices: every source address no Device claims, with what the
 * network saw of it. Bounded: at most `max` addresses (least recently seen
 * forgotten first), each with at most `maxTargets` distinct things it tried.
 *
 * The table is the site's (issue 14): what this controller saw is also kept
 * as deltas since its last flush (takeChanges()), which the store adds up
 * with the other controllers'; merge() then takes the store's rows, with the
 * deltas that arrived meanwhile on top (discovery.service.ts).
 */
import { trimOldest } from '../../../common/src/lru';
import type { UnknownDeviceRow } from '../store/unknown-devices.repository';
import { FlowRecord, shortVerdict, transportName } from './flow-record';

export interface UnknownDevice {
  address: string;
  mac: string | null;
  interface: string | null;
  enforcer: string;
  segment: string;
  firstSeen: string;
  lastSeen: string;
  flows: number;
  packets: number;
  bytes: number;
  denied: number;
  /** What it tried to reach: `dst:port/proto verdict`, distinct, at most maxTargets. */
  tried: string[];
}

/** What a drop event tells about its source. */
export interface DropSighting {
  src: string;
  dst: string;
  /** Destination port, or ICMP type << 8 | code. */
  dport: number;
  protocol: number;
  verdict: string;
  mac?: string;
  ifindex?: number;
  /** The interface's name, when the enforcer resolved it. */
  interface?: string;
  segment: string;
  /** Unix ms. */
  at: number;
}

/** An entry as the table keeps it: times as numbers (ISO text is made when listed, not per record). */
type Entry = UnknownDeviceRow;

function view(u: Entry): UnknownDevice {
  const { firstMs, lastMs, ...rest } = u;
  return { ...rest, tried: [...u.tried], firstSeen: new Date(firstMs).toISOString(), lastSeen: new Date(lastMs).toISOString() };
}

export class UnknownDevices {
  private readonly table = new Map<string, Entry>();
  /** What this controller saw since its last flush: counters as increments, `tried` the targets new since. */
  private changes = new Map<string, Entry>();
  /** Addresses a Device claimed since the last flush. */
  private dropped = new Set<string>();
  constructor(
    private readonly max = 10_000,
    private readonly maxTargets = 32,
  ) {}

  private entry(address: string, enforcer: string, segment: string, firstMs: number): Entry {
    return { address, mac: null, interface: null, enforcer, segment, firstMs, lastMs: firstMs, flows: 0, packets: 0, bytes: 0, denied: 0, tried: [] };
  }

  /** The target, when it is new to the entry. */
  private tried(u: Entry, dst: string, dport: number, protocol: number, verdict: string): string | null {
    if (u.tried.length >= this.maxTargets) return null;
    const target = `${dst}:${dport}/${transportName(protocol)} ${verdict}`;
    if (u.tried.includes(target)) return null;
    u.tried.push(target);
    return target;
  }

  /** Notes in the deltas what just changed in `u`: the increments given, its current names and times. */
  private changed(u: Entry, inc: { flows: number; packets: number; bytes: number; denied: number }, target: string | null): void {
    let d = this.changes.get(u.address);
    if (d) this.changes.delete(u.address);
    else d = { ...this.entry(u.address, u.enforcer, u.segment, u.firstMs) };
    d.mac = u.mac;
    d.interface = u.interface;
    d.enforcer = u.enforcer;
    d.segment = u.segment;
    d.firstMs = u.firstMs;
    d.lastMs = u.lastMs;
    d.flows += inc.flows;
    d.packets += inc.packets;
    d.bytes += inc.bytes;
    d.denied += inc.denied;
    if (target && !d.tried.includes(target)) d.tried.push(target);
    this.changes.set(u.address, d);
    this.dropped.delete(u.address);
    // A store out of reach for long: the oldest deltas go, like the table's entries.
    trimOldest(this.changes, this.max);
  }

  /** Records one flow from an unclaimed source; true when the source is new (get() has it). */
  observe(enforcer: string, r: FlowRecord, segment: string, t: number): boolean {
    let u = this.table.get(r.src);
    let fresh = false;
    if (u) {
      this.table.delete(r.src); // re-insert: Map order is LRU order
    } else {
      fresh = true;
      u = this.entry(r.src, enforcer, segment, Math.min(t, r.firstSeen || t));
    }
    const mac = r.srcMac || r.mac;
    if (mac) u.mac = mac.toLowerCase();
    if (r.interface) u.interface = r.interface;
    else if (!u.interface && r.ifindex) u.interface = `ifindex ${r.ifindex}`;
    u.enforcer = enforcer;
    u.segment = segment;
    if (t > u.lastMs) u.lastMs = t;
    const v = shortVerdict(r.verdict);
    const inc = {
      flows: 1,
      packets: (r.packetsFwd || 0) + (r.packetsRev || 0),
      bytes: (r.bytesFwd || 0) + (r.bytesRev || 0),
      denied: v === 'deny' || v === 'audit' ? r.packetsFwd || 1 : 0,
    };
    u.flows += inc.flows;
    u.packets += inc.packets;
    u.bytes += inc.bytes;
    u.denied += inc.denied;
    this.changed(u, inc, this.tried(u, r.dst, r.dport, r.protocol, v));
    this.table.set(r.src, u);
    trimOldest(this.table, this.max);
    return fresh;
  }

  /**
   * A drop event from an unclaimed source: fills in its MAC and interface and
   * what it tried, creating the entry when its flow records have not arrived
   * yet. Counters are left to observe() (the flow records count every packet;
   * events are rate-limited samples). True when the source is new.
   */
  observeEvent(enforcer: string, e: DropSighting): boolean {
    let u = this.table.get(e.src);
    let fresh = false;
    if (u) {
      this.table.delete(e.src);
    } else {
      fresh = true;
      u = this.entry(e.src, enforcer, e.segment, e.at);
    }
    if (e.mac) u.mac = e.mac.toLowerCase();
    if (e.interface) u.interface = e.interface;
    else if (!u.interface && e.ifindex) u.interface = `ifindex ${e.ifindex}`;
    u.enforcer = enforcer;
    if (e.at > u.lastMs) u.lastMs = e.at;
    if (e.at < u.firstMs) u.firstMs = e.at;
    this.changed(u, { flows: 0, packets: 0, bytes: 0, denied: 0 }, this.tried(u, e.dst, e.dport, e.protocol, shortVerdict(e.verdict)));
    this.table.set(e.src, u);
    trimOldest(this.table, this.max);
    return fresh;
  }

  get(address: string): UnknownDevice | undefined {
    const u = this.table.get(address);
    return u && view(u);
  }

  /** An address a Device now claims is no longer unknown. */
  drop(address: string): boolean {
    this.changes.delete(address);
    this.dropped.add(address);
    return this.table.delete(address);
  }

  /** Most recently seen first (entries merged from the store are not in the order this controller saw them). */
  list(): UnknownDevice[] {
    return [...this.table.values()].reverse().sort((a, b) => b.lastMs - a.lastMs).map(view);
  }

  /** The deltas since the last flush, and the addresses claimed; from now on new deltas start from zero. */
  takeChanges(): { changes: UnknownDeviceRow[]; dropped: string[] } {
    const out = { changes: [...this.changes.values()], dropped: [...this.dropped] };
    this.changes = new Map();
    this.dropped = new Set();
    return out;
  }

  /** A flush that failed: its deltas go back, under the ones that came since. */
  restoreChanges(taken: { changes: UnknownDeviceRow[]; dropped: string[] }): void {
    const since = this.changes;
    this.changes = new Map(taken.changes.map((c) => [c.address, c]));
    for (const [address, d] of since) {
      const c = this.changes.get(address);
      this.changes.delete(address);
      this.changes.set(address, c ? addDelta(c, d, this.maxTargets) : d);
    }
    for (const a of taken.dropped) if (!this.changes.has(a)) this.dropped.add(a);
    trimOldest(this.changes, this.max);
  }

  /** Rows of the store (the site's sums): each replaces its entry, with this controller's unflushed deltas on top. */
  merge(rows: readonly UnknownDeviceRow[]): void {
    // Oldest first, so that the Map's order stays least recently seen first.
    for (const row of [...rows].sort((a, b) => a.lastMs - b.lastMs)) {
      if (this.dropped.has(row.address)) continue;
      const d = this.changes.get(row.address);
      const u = d ? addDelta({ ...row, tried: [...row.tried] }, d, this.maxTargets) : { ...row, tried: [...row.tried] };
      this.table.delete(row.address);
      this.table.set(row.address, u);
    }
    trimOldest(this.table, this.max);
  }
}

/** `base` with the delta `d` on top: counters added, times widened, its names (the newer) kept, targets appended. */
function addDelta(base: Entry, d: Entry, maxTargets: number): Entry {
  base.mac = d.mac ?? base.mac;
  base.interface = d.interface ?? base.interface;
  base.enforcer = d.enforcer;
  base.segment = d.segment;
  base.firstMs = Math.min(base.firstMs, d.firstMs);
  base.lastMs = Math.max(base.lastMs, d.lastMs);
  base.flows += d.flows;
  base.packets += d.packets;
  base.bytes += d.bytes;
  base.denied += d.denied;
  for (const t of d.tried) if (base.tried.length < maxTargets && !base.tried.includes(t)) base.tried.push(t);
  return base;
}
