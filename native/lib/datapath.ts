// SPDX-License-Identifier: Apache-2.0
/**
 * The typed facade of the datapath: what apps see of the native addon and
 * the eBPF program. Encoding of map entries lives in abi.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIMITS, REASON_COUNT, REASON_NAME, SIZE, STATE_FLAG } from './abi';
import { encodeIpcache, encodePolicy } from './encode';
import { binding, RawHandle } from './binding';
import { decodeCounter, decodeEvents, decodeFlows, decodePairStats } from './decode';
import { decodeFqdn, encodeAddresses, encodeDnsSteering, encodeFqdn, type DnsSteering, type FqdnEntry } from './fqdn-maps';
import type { DatapathOptions, DropEvent, FlowRecord, Generation, PairStat, RawFlows, TestRunResult, Direction } from './records';

export type { DatapathOptions, Direction, DropEvent, FlowRecord, Generation, PairStat, RawFlows, TestRunResult, Verdict } from './records';
export { FLOW_ENTRY, FLOW_FLAG } from './abi';
export type { DnsSteering, FqdnEntry } from './fqdn-maps';
export { decodeEvents, decodeFlow, decodeFlows, readU64 } from './decode';

const TC_ACT_OK = 0;
/** XDP verdicts (linux/bpf.h): the short-cut returns DROP or PASS. */
export const XDP_DROP = 1;
export const XDP_PASS = 2;
const TEST_RUN_HOOK = { egress: 0, ingress: 1, xdp: 2 } as const;

/** What an attach did with the XDP short-cut (ingress only). */
export interface AttachResult {
  xdp?: string;
}
/** The tables that fill with traffic, by the name mapFill gives them, each a map or one map per family (bpf/cordon.h "flows"). */
const FILLING: Record<string, { maps: string[]; max: number }> = {
  flows: { maps: ['cordon_flows4', 'cordon_flows'], max: LIMITS.FLOWS },
  denied: { maps: ['cordon_denied4', 'cordon_denied'], max: LIMITS.FLOWS },
  frags: { maps: ['cordon_frags'], max: LIMITS.FRAGS },
  pair_stats: { maps: ['cordon_pair_stats'], max: LIMITS.PAIRS },
};

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

  /**
   * Attaches to tc clsact of an interface (atomically replacing an earlier
   * Cordon program); on ingress with opts.xdp also the XDP short-cut that
   * drops repeats of denied flows before tc (on a NIC, before an skb is built;
   * bpf/lib/xdp.h). Without it (the default) one attached earlier is removed:
   * on veth an XDP program costs passing traffic dearly (the namespace
   * gateway's TCP fell to 0.16 of no filter). `xdp` says how that went:
   * 'native', 'off', or 'skipped: why' (tc alone judges: same verdicts).
   */
  async attach(ifname: string, direction: Direction, opts: { netns?: string; xdp?: boolean } = {}): Promise<AttachResult> {
    const xdp = await this.raw.attach(ifname, direction === 'ingress', opts.netns, opts.xdp ?? false);
    return direction === 'ingress' ? { xdp } : {};
  }

  /** Detaches the tc program (on ingress, the XDP short-cut first). */
  async detach(ifname: string, direction: Direction, opts: { netns?: string } = {}): Promise<void> {
    await this.raw.detach(ifname, direction === 'ingress', opts.netns);
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
        flags: (g.auditAll ? STATE_FLAG.AUDIT_ALL : 0) | (g.linkLocalDrop ? STATE_FLAG.LINK_LOCAL_DROP : 0) | (g.nameSelectors ? STATE_FLAG.NAMES : 0),
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
   * 168 bytes a flow instead of an object of twenty-odd fields and strings.
   */
  async flowsRaw(): Promise<RawFlows> {
    // One after the other: each dump grows a vector on a pool thread, and two at once keep two
    // malloc arenas holding a table's worth of freed memory each.
    const live = await this.raw.dumpFlows(false);
    const denied = await this.raw.dumpFlows(true);
    return { live, denied };
  }

  /** Counters per identity pair and outcome; read on a pool thread (a syscall a pair and CPU). */
  async pairStats(): Promise<PairStat[]> {
    return decodePairStats(await this.raw.dumpPairStats());
  }

  /** Packets and bytes by drop reason (audit passes included: they are drops enforce mode would make). */
  reasonStats(): Record<string, { packets: number; bytes: number }> {
    const buf = this.raw.dumpReasonStats();
    const out: Record<string, { packets: number; bytes: number }> = {};
    for (let r = 1; r < REASON_COUNT && (r + 1) * SIZE.COUNTER <= buf.length; r++) {
      const name = REASON_NAME[r];
      if (name) out[name] = decodeCounter(buf, r);
    }
    return out;
  }

  /** Counters of the given rules, read on a pool thread. */
  async ruleStats(ids: readonly number[]): Promise<Map<number, { packets: number; bytes: number }>> {
    const buf = await this.raw.readRuleStats(Uint32Array.from(ids));
    const out = new Map<number, { packets: number; bytes: number }>();
    ids.forEach((id, i) => out.set(id, decodeCounter(buf, i)));
    return out;
  }

  /**
   * Entries and capacity of the tables that fill with traffic; counting walks every key, on pool threads.
   * A table kept per family is as full as its fuller family's map (each holds max entries): the one that evicts first.
   */
  async mapFill(): Promise<Record<string, { entries: number; max: number }>> {
    const tables = Object.entries(FILLING);
    const counts = await Promise.all(tables.map(([, t]) => Promise.all(t.maps.map((m) => this.raw.countEntries(m)))));
    return Object.fromEntries(tables.map(([name, t], i) => [name, { entries: Math.max(...counts[i]), max: t.max }]));
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

  /**
   * Learned addresses (cordon.h "fqdn"), written at once on the caller's
   * thread: when this returns, a new flow to them is judged with their selectors.
   */
  writeFqdn(entries: readonly FqdnEntry[]): void {
    if (entries.length === 0) return;
    const e = encodeFqdn(entries);
    this.raw.writeEntries('cordon_fqdn', e.keys, e.values, e.count);
  }

  /** Forgets learned addresses; returns how many were there. */
  deleteFqdn(addresses: readonly string[]): number {
    return addresses.length ? this.raw.deleteKeys('cordon_fqdn', encodeAddresses(addresses)) : 0;
  }

  /** Every learned address (pinned: those of an earlier run too). */
  async fqdnEntries(): Promise<FqdnEntry[]> {
    return decodeFqdn(await this.raw.dumpUserMap('cordon_fqdn'));
  }

  /** Steers device DNS queries to the resolvers to the proxy (or, with no resolvers, stops steering). */
  setDnsSteering(s: DnsSteering): void {
    const e = encodeDnsSteering(s);
    this.raw.writeEntries('cordon_dns', e.keys, e.values, e.count);
  }

  /** Runs the real program on one packet through BPF_PROG_TEST_RUN. */
  async testRun(packet: Buffer, opts: { repeat?: number; direction?: Direction | 'xdp' } = {}): Promise<TestRunResult> {
    const hook = opts.direction ?? 'ingress';
    const r = await this.raw.testRun(packet, opts.repeat ?? 1, TEST_RUN_HOOK[hook]);
    return { action: r.retval, passed: r.retval === (hook === 'xdp' ? XDP_PASS : TC_ACT_OK), durationNs: r.durationNs };
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

