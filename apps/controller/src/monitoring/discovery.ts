// SPDX-License-Identifier: Apache-2.0
/**
 * Unknown devices: every source address no Device claims, with what the
 * network saw of it. Bounded: at most `max` addresses (least recently seen
 * forgotten first), each with at most `maxTargets` distinct things it tried.
 */
import { trimOldest } from './bounded';
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

export class UnknownDevices {
  private readonly table = new Map<string, UnknownDevice>();
  constructor(
    private readonly max = 10_000,
    private readonly maxTargets = 32,
  ) {}

  /** Records one flow from an unclaimed source; returns the entry when it is new. */
  observe(enforcer: string, r: FlowRecord, segment: string, t: number): UnknownDevice | null {
    const iso = new Date(t).toISOString();
    let u = this.table.get(r.src);
    let fresh = false;
    if (u) {
      this.table.delete(r.src); // re-insert: Map order is LRU order
    } else {
      fresh = true;
      u = {
        address: r.src,
        mac: null,
        interface: null,
        enforcer,
        segment,
        firstSeen: new Date(Math.min(t, r.firstSeen || t)).toISOString(),
        lastSeen: iso,
        flows: 0,
        packets: 0,
        bytes: 0,
        denied: 0,
        tried: [],
      };
    }
    const mac = r.srcMac || r.mac;
    if (mac) u.mac = mac.toLowerCase();
    if (r.interface) u.interface = r.interface;
    else if (!u.interface && r.ifindex) u.interface = `ifindex ${r.ifindex}`;
    u.enforcer = enforcer;
    u.segment = segment;
    if (iso > u.lastSeen) u.lastSeen = iso;
    u.flows++;
    u.packets += (r.packetsFwd || 0) + (r.packetsRev || 0);
    u.bytes += (r.bytesFwd || 0) + (r.bytesRev || 0);
    const v = shortVerdict(r.verdict);
    if (v === 'deny' || v === 'audit') u.denied += r.packetsFwd || 1;
    const target = `${r.dst}:${r.dport}/${transportName(r.protocol)} ${v}`;
    if (u.tried.length < this.maxTargets && !u.tried.includes(target)) u.tried.push(target);
    this.table.set(r.src, u);
    trimOldest(this.table, this.max);
    return fresh ? u : null;
  }

  /**
   * A drop event from an unclaimed source: fills in its MAC and interface and
   * what it tried, creating the entry when its flow records have not arrived
   * yet. Counters are left to observe() (the flow records count every packet;
   * events are rate-limited samples). Returns the entry when it is new.
   */
  observeEvent(enforcer: string, e: DropSighting): UnknownDevice | null {
    const iso = new Date(e.at).toISOString();
    let u = this.table.get(e.src);
    let fresh = false;
    if (u) {
      this.table.delete(e.src);
    } else {
      fresh = true;
      u = { address: e.src, mac: null, interface: null, enforcer, segment: e.segment, firstSeen: iso, lastSeen: iso, flows: 0, packets: 0, bytes: 0, denied: 0, tried: [] };
    }
    if (e.mac) u.mac = e.mac.toLowerCase();
    if (e.interface) u.interface = e.interface;
    else if (!u.interface && e.ifindex) u.interface = `ifindex ${e.ifindex}`;
    u.enforcer = enforcer;
    if (iso > u.lastSeen) u.lastSeen = iso;
    if (iso < u.firstSeen) u.firstSeen = iso;
    const target = `${e.dst}:${e.dport}/${transportName(e.protocol)} ${shortVerdict(e.verdict)}`;
    if (u.tried.length < this.maxTargets && !u.tried.includes(target)) u.tried.push(target);
    this.table.set(e.src, u);
    trimOldest(this.table, this.max);
    return fresh ? u : null;
  }

  get(address: string): UnknownDevice | undefined {
    return this.table.get(address);
  }

  /** An address a Device now claims is no longer unknown. */
  drop(address: string): boolean {
    return this.table.delete(address);
  }

  /** Most recently seen first. */
  list(): UnknownDevice[] {
    return [...this.table.values()].reverse();
  }
}
