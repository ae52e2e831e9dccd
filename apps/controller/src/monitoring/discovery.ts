// SPDX-License-Identifier: Apache-2.0
/**
 * Unknown devices: every source address no Device claims, with what the
 * network saw of it. Bounded: at most `max` addresses (least recently seen
 * forgotten first), each with at most `maxTargets` distinct things it tried.
 */
import { trimOldest } from '../../../common/src/lru';
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
type Entry = Omit<UnknownDevice, 'firstSeen' | 'lastSeen'> & { firstMs: number; lastMs: number };

function view(u: Entry): UnknownDevice {
  const { firstMs, lastMs, ...rest } = u;
  return { ...rest, tried: [...u.tried], firstSeen: new Date(firstMs).toISOString(), lastSeen: new Date(lastMs).toISOString() };
}

export class UnknownDevices {
  private readonly table = new Map<string, Entry>();
  constructor(
    private readonly max = 10_000,
    private readonly maxTargets = 32,
  ) {}

  private entry(address: string, enforcer: string, segment: string, firstMs: number): Entry {
    return { address, mac: null, interface: null, enforcer, segment, firstMs, lastMs: firstMs, flows: 0, packets: 0, bytes: 0, denied: 0, tried: [] };
  }

  private tried(u: Entry, dst: string, dport: number, protocol: number, verdict: string): void {
    if (u.tried.length >= this.maxTargets) return;
    const target = `${dst}:${dport}/${transportName(protocol)} ${verdict}`;
    if (!u.tried.includes(target)) u.tried.push(target);
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
    u.flows++;
    u.packets += (r.packetsFwd || 0) + (r.packetsRev || 0);
    u.bytes += (r.bytesFwd || 0) + (r.bytesRev || 0);
    const v = shortVerdict(r.verdict);
    if (v === 'deny' || v === 'audit') u.denied += r.packetsFwd || 1;
    this.tried(u, r.dst, r.dport, r.protocol, v);
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
    this.tried(u, e.dst, e.dport, e.protocol, shortVerdict(e.verdict));
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
    return this.table.delete(address);
  }

  /** Most recently seen first. */
  list(): UnknownDevice[] {
    return [...this.table.values()].reverse().map(view);
  }
}
