// SPDX-License-Identifier: Apache-2.0
/**
 * The typed facade of the datapath: what apps see of the native addon and
 * the eBPF program. Encoding of map entries lives in abi.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  addressText,
  encodeIpcache,
  encodePolicy,
  IpcacheEntry,
  LIMITS,
  macText,
  PolicyEntry,
  REASON_NAME,
  ENCRYPTION_NAME,
  EncryptionClass,
  SIZE,
  STATE_FLAG,
  VERDICT_NAME,
} from './abi';
import { binding, RawHandle } from './binding';

export type Direction = 'ingress' | 'egress';
export type Verdict = 'allow' | 'deny' | 'audit';

export interface DatapathOptions {
  /** Pins live under PIN_ROOT/<name>/; a second open of the same name adopts them. */
  name: string;
  pinRoot?: string;
  ctTimeoutTcpSeconds?: number;
  ctTimeoutUdpSeconds?: number;
  ctTimeoutOtherSeconds?: number;
  /** Drop events per second per CPU (token bucket) and burst. */
  eventRate?: number;
  eventBurst?: number;
  /** Classify each flow's first payload (encrypted or plaintext); default on. */
  classifyPayload?: boolean;
  /**
   * Budget of new tracked flows (and remembered fragments) per source address:
   * a token bucket of this rate per second (default 1000; 0 = no budget) and
   * burst (default 8192). A flow over it is dropped, reason `flow_budget`.
   * The host's own flows are not budgeted.
   */
  newFlowsPerSecond?: number;
  newFlowBurst?: number;
}

export interface Generation {
  generation: number;
  ipcache: readonly IpcacheEntry[];
  policy: readonly PolicyEntry[];
  /** Global audit mode: count and report, drop nothing. */
  auditAll?: boolean;
  /** Drop link-local control frames that are not IP (EAPOL, LLDP); by default they pass and are counted. */
  linkLocalDrop?: boolean;
}

export interface FlowRecord {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family: 4 | 6;
  srcIdentity: number;
  dstIdentity: number;
  verdict: Verdict;
  reason: string;
  ruleId: number;
  packetsFwd: number;
  bytesFwd: number;
  packetsRev: number;
  bytesRev: number;
  firstSeenNs: number;
  lastSeenNs: number;
  ifindex: number;
  tcpFlags: number;
  /** What the flow's first payload looked like: pending, tls, dtls, ssh, quic, plaintext, mqtt, http, coap. */
  encryption: EncryptionClass;
  policyPort: number;
  /** CORDON_FLOW_F_* (FLOW_FLAG): which ends had a bound MAC, audit sides, encryption required. */
  flags: number;
  /** The source's bound MAC at decision (`02:00:00:00:00:07`), '' when flags has no FLOW_FLAG.SRC_MAC. */
  srcMac: string;
  /** The destination's bound MAC at decision, '' when flags has no FLOW_FLAG.DST_MAC. */
  dstMac: string;
}

/** CORDON_FLOW_F_* of bpf/cordon.h (cordon_flow_value.flags). */
export const FLOW_FLAG = { SRC_MAC: 0x1, DST_MAC: 0x2, SRC_AUDIT: 0x4, DST_AUDIT: 0x8, ENCRYPT_REQUIRED: 0x10 } as const;

/**
 * Where things are in one entry of a raw flow dump (flowsRaw): the key
 * (struct cordon_flow_key) then the value (struct cordon_flow_value), back to
 * back, STRIDE bytes apart. Offsets are from the entry's start. Bytes
 * [0, IDENTITY_END) are the 5-tuple and first_seen_ns: what tells one
 * connection from another, also when a 5-tuple is reused later.
 */
export const FLOW_ENTRY = {
  STRIDE: SIZE.FLOW_KEY + SIZE.FLOW_VALUE,
  IDENTITY_END: SIZE.FLOW_KEY + 8,
  FIRST_SEEN: SIZE.FLOW_KEY,
  LAST_SEEN: SIZE.FLOW_KEY + 8,
  PACKETS_FWD: SIZE.FLOW_KEY + 16,
  BYTES_FWD: SIZE.FLOW_KEY + 24,
  PACKETS_REV: SIZE.FLOW_KEY + 32,
  BYTES_REV: SIZE.FLOW_KEY + 40,
  IFINDEX: SIZE.FLOW_KEY + 68,
  FLAGS: SIZE.FLOW_KEY + 79,
  SRC_MAC: SIZE.FLOW_KEY + 80,
  DST_MAC: SIZE.FLOW_KEY + 86,
} as const;

/** Both flow tables as the kernel dumped them (entries FLOW_ENTRY.STRIDE bytes apart); decodeFlow() reads one. */
export interface RawFlows {
  /** Tracked connections (allowed or audited). */
  live: Buffer;
  /** Denied flows. */
  denied: Buffer;
}

export interface PairStat {
  srcIdentity: number;
  dstIdentity: number;
  verdict: Verdict;
  reason: string;
  packets: number;
  bytes: number;
}

export interface DropEvent {
  tsNs: number;
  src: string;
  dst: string;
  sport: number;
  /** Destination port, or ICMP type << 8 | code. */
  dport: number;
  protocol: number;
  family: 4 | 6;
  verdict: Verdict;
  reason: string;
  srcIdentity: number;
  dstIdentity: number;
  ruleId: number;
  ifindex: number;
  srcMac: string;
}

export interface TestRunResult {
  /** tc action: 0 TC_ACT_OK (pass), 2 TC_ACT_SHOT (drop). */
  action: number;
  passed: boolean;
  /** Average in-kernel run time per repeat. */
  durationNs: number;
}

const TC_ACT_OK = 0;
const MAPS = ['cordon_flows', 'cordon_denied', 'cordon_frags', 'cordon_pair_stats'] as const;
const MAP_MAX: Record<(typeof MAPS)[number], number> = {
  cordon_flows: LIMITS.FLOWS,
  cordon_denied: LIMITS.FLOWS,
  cordon_frags: LIMITS.FRAGS,
  cordon_pair_stats: LIMITS.PAIRS,
};

function u64(b: Buffer, off: number): number {
  return Number(b.readBigUInt64LE(off));
}

/** An unsigned 64-bit counter as a number, without a BigInt (exact below 2^53). */
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x1_0000_0000;
}

function decodeFlows(buf: Buffer): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let o = 0; o + FLOW_ENTRY.STRIDE <= buf.length; o += FLOW_ENTRY.STRIDE) out.push(decodeFlow(buf, o));
  return out;
}

/** The flow entry at byte offset o of a raw dump (flowsRaw). */
function decodeFlow(buf: Buffer, o: number): FlowRecord {
  const v = o + SIZE.FLOW_KEY;
  const flags = buf[v + 79];
  return {
    src: addressText(buf, o),
    dst: addressText(buf, o + 16),
    sport: buf.readUInt16BE(o + 32),
    dport: buf.readUInt16BE(o + 34),
    protocol: buf[o + 36],
    family: buf[o + 37] === 6 ? 6 : 4,
    firstSeenNs: u64(buf, v),
    lastSeenNs: u64(buf, v + 8),
    packetsFwd: u64(buf, v + 16),
    bytesFwd: u64(buf, v + 24),
    packetsRev: u64(buf, v + 32),
    bytesRev: u64(buf, v + 40),
    srcIdentity: buf.readUInt32LE(v + 56),
    dstIdentity: buf.readUInt32LE(v + 60),
    ruleId: buf.readUInt32LE(v + 64),
    ifindex: buf.readUInt32LE(v + 68),
    verdict: (VERDICT_NAME[buf[v + 72]] ?? 'deny') as Verdict,
    reason: REASON_NAME[buf[v + 73]] ?? 'unknown',
    tcpFlags: buf[v + 74],
    encryption: ENCRYPTION_NAME[buf[v + 75]] ?? 'plaintext',
    policyPort: buf.readUInt16BE(v + 76),
    flags,
    srcMac: flags & FLOW_FLAG.SRC_MAC ? macText(buf.subarray(v + 80, v + 86)) : '',
    dstMac: flags & FLOW_FLAG.DST_MAC ? macText(buf.subarray(v + 86, v + 92)) : '',
  };
}

function decodeEvents(buf: Buffer): DropEvent[] {
  const out: DropEvent[] = [];
  for (let o = 0; o + SIZE.EVENT <= buf.length; o += SIZE.EVENT) {
    out.push({
      tsNs: u64(buf, o),
      src: addressText(buf, o + 8),
      dst: addressText(buf, o + 24),
      sport: buf.readUInt16BE(o + 40),
      dport: buf.readUInt16BE(o + 42),
      protocol: buf[o + 44],
      family: buf[o + 45] === 6 ? 6 : 4,
      verdict: (VERDICT_NAME[buf[o + 46]] ?? 'deny') as Verdict,
      reason: REASON_NAME[buf[o + 47]] ?? 'unknown',
      srcIdentity: buf.readUInt32LE(o + 48),
      dstIdentity: buf.readUInt32LE(o + 52),
      ruleId: buf.readUInt32LE(o + 56),
      ifindex: buf.readUInt32LE(o + 60),
      srcMac: macText(buf.subarray(o + 64, o + 70)),
    });
  }
  return out;
}

export class Datapath {
  private writes: Promise<unknown> = Promise.resolve();
  private pollers = 0;

  private constructor(
    readonly name: string,
    private readonly raw: RawHandle,
  ) {}

  /** Removes every pin of a datapath by name, compatible or not (a fresh start). */
  static removePins(name: string, pinRoot = '/sys/fs/bpf/cordon'): void {
    fs.rmSync(path.join(pinRoot, name), { recursive: true, force: true });
  }

  /** Loads the program through the verifier; maps already pinned for this name are adopted. */
  static async open(opts: DatapathOptions): Promise<Datapath> {
    const raw = await binding().open({ ...opts });
    return new Datapath(opts.name, raw);
  }

  /** True when this open found the maps of an earlier run pinned and took them over. */
  get adopted(): boolean {
    return this.raw.adopted;
  }

  get pinDir(): string {
    return this.raw.pinDir;
  }

  /** Attaches to tc clsact of an interface (atomically replacing an earlier Cordon program). */
  attach(ifname: string, direction: Direction, opts: { netns?: string } = {}): Promise<void> {
    return this.raw.attach(ifname, direction === 'ingress', opts.netns);
  }

  detach(ifname: string, direction: Direction, opts: { netns?: string } = {}): Promise<void> {
    return this.raw.detach(ifname, direction === 'ingress', opts.netns);
  }

  /** Writes a whole generation into the idle slot and swaps it in; writes are serialised. */
  applyGeneration(g: Generation): Promise<{ epoch: number; durationMs: number }> {
    const run = async () => {
      const ipc = encodeIpcache(g.ipcache);
      const pol = encodePolicy(g.policy);
      const r = await this.raw.applyGeneration({
        hosts: ipc.hosts,
        prefixes: ipc.prefixes,
        policy: pol.policy,
        policyMasks: pol.masks,
        generation: g.generation,
        flags: (g.auditAll ? STATE_FLAG.AUDIT_ALL : 0) | (g.linkLocalDrop ? STATE_FLAG.LINK_LOCAL_DROP : 0),
      });
      return { epoch: r.epoch, durationMs: r.durationNs / 1e6 };
    };
    const next = this.writes.then(run, run);
    this.writes = next.catch(() => undefined);
    return next;
  }

  state(): { epoch: number; generation: number; auditAll: boolean; linkLocalDrop: boolean } {
    const s = this.raw.readState();
    return {
      epoch: s.epoch,
      generation: s.generation,
      auditAll: (s.flags & STATE_FLAG.AUDIT_ALL) !== 0,
      linkLocalDrop: (s.flags & STATE_FLAG.LINK_LOCAL_DROP) !== 0,
    };
  }

  /** Global audit mode on or off; the other state flags are kept. */
  setAuditAll(on: boolean): void {
    const flags = this.raw.readState().flags & ~STATE_FLAG.AUDIT_ALL;
    this.raw.setFlags(flags | (on ? STATE_FLAG.AUDIT_ALL : 0));
  }

  /** Link-local control frames (EAPOL, LLDP) that passed since the datapath was loaded. */
  linkLocalFrames(): number {
    return this.raw.linkLocalFrames().packets;
  }

  /** Tracked connections (allowed or audited) and denied flows, with their counters. */
  async flows(): Promise<FlowRecord[]> {
    const [live, denied] = await Promise.all([this.raw.dumpFlows(false), this.raw.dumpFlows(true)]);
    return [...decodeFlows(live), ...decodeFlows(denied)];
  }

  /**
   * Both flow tables undecoded, for readers that look at a few bytes of every
   * entry and decode only some (the enforcer diffing counters between polls):
   * 136 bytes a flow instead of an object of twenty-odd fields and strings.
   */
  async flowsRaw(): Promise<RawFlows> {
    // One after the other: each dump grows a vector on a pool thread, and two at once keep two
    // malloc arenas holding a table's worth of freed memory each.
    const live = await this.raw.dumpFlows(false);
    const denied = await this.raw.dumpFlows(true);
    return { live, denied };
  }

  pairStats(): PairStat[] {
    const buf = this.raw.dumpPairStats();
    const stride = SIZE.PAIR_KEY + SIZE.COUNTER;
    const out: PairStat[] = [];
    for (let o = 0; o + stride <= buf.length; o += stride) {
      out.push({
        srcIdentity: buf.readUInt32LE(o),
        dstIdentity: buf.readUInt32LE(o + 4),
        verdict: (VERDICT_NAME[buf[o + 8]] ?? 'deny') as Verdict,
        reason: REASON_NAME[buf[o + 9]] ?? 'unknown',
        packets: u64(buf, o + 12),
        bytes: u64(buf, o + 20),
      });
    }
    return out;
  }

  /** Packets and bytes by drop reason (audit passes included: they are drops enforce mode would make). */
  reasonStats(): Record<string, { packets: number; bytes: number }> {
    const buf = this.raw.dumpReasonStats();
    const out: Record<string, { packets: number; bytes: number }> = {};
    for (let r = 1; r * SIZE.COUNTER < buf.length; r++) {
      const name = REASON_NAME[r];
      if (name) out[name] = { packets: u64(buf, r * SIZE.COUNTER), bytes: u64(buf, r * SIZE.COUNTER + 8) };
    }
    return out;
  }

  ruleStats(ids: readonly number[]): Map<number, { packets: number; bytes: number }> {
    const buf = this.raw.readRuleStats(Uint32Array.from(ids));
    const out = new Map<number, { packets: number; bytes: number }>();
    ids.forEach((id, i) => out.set(id, { packets: u64(buf, i * 16), bytes: u64(buf, i * 16 + 8) }));
    return out;
  }

  mapFill(): Record<string, { entries: number; max: number }> {
    const out: Record<string, { entries: number; max: number }> = {};
    for (const m of MAPS) out[m.replace('cordon_', '')] = { entries: this.raw.countEntries(m), max: MAP_MAX[m] };
    return out;
  }

  /** Events the rate limit held back. */
  suppressedEvents(): number {
    return this.raw.suppressedEvents();
  }

  /**
   * Calls cb with batches of drop/audit events from the ring buffer, polled on
   * a worker thread; returns a function that stops it. One subscriber at a time.
   */
  onEvents(cb: (events: DropEvent[]) => void, pollMs = 200): () => void {
    if (this.pollers > 0) throw new Error('events already have a subscriber on this datapath');
    this.pollers++;
    let stopped = false;
    const loop = async () => {
      while (!stopped) {
        let buf: Buffer;
        try {
          buf = await this.raw.pollEvents(pollMs);
        } catch (e) {
          if (stopped) break;
          throw e;
        }
        if (buf.length && !stopped) cb(decodeEvents(buf));
      }
    };
    const done = loop().finally(() => this.pollers--);
    done.catch(() => undefined);
    return () => {
      stopped = true;
    };
  }

  /** Runs the real program on one packet through BPF_PROG_TEST_RUN. */
  async testRun(packet: Buffer, opts: { repeat?: number; direction?: Direction } = {}): Promise<TestRunResult> {
    const r = await this.raw.testRun(packet, opts.repeat ?? 1, (opts.direction ?? 'ingress') === 'ingress');
    return { action: r.retval, passed: r.retval === TC_ACT_OK, durationNs: r.durationNs };
  }

  /** Closes this process's handles; programs stay attached and maps pinned. */
  close(): void {
    this.raw.close();
  }

  /** Removes the pins; detach interfaces first, or the attached program keeps running. */
  unpin(): void {
    this.raw.unpin();
  }
}

export { decodeEvents, decodeFlow, decodeFlows };
