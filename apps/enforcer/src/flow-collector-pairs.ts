// SPDX-License-Identifier: Apache-2.0
/**
 * Pair figures the kernel leaves in connection entries (bpf/cordon.h
 * "counters": a packet of a tracked connection judged from its entry is
 * counted there, not in cordon_pair_stats, which keeps a hash lookup off the
 * fast path). A poll sums each connection's increments by pair and outcome
 * (RawFlowCounters.pairIncrements) and adds them to the increments of the
 * kernel's pair counters, so that every verdict is counted per pair once.
 */
import { reasonOf, verdictOf } from '../../../native/lib/decode';
import type { PairCount } from './flow-collector-counters';
import type { PairIncrements } from './raw-flow-counters';

export interface PairIncrement {
  pair: PairCount;
  packets: number;
  bytes: number;
}

const key = (srcIdentity: number, dstIdentity: number, verdict: string, reason: string) => `${srcIdentity}|${dstIdentity}|${verdict}|${reason}`;
const keyOf = (p: PairCount) => key(p.srcIdentity, p.dstIdentity, p.verdict, p.reason);

/** One poll's pair increments of connection entries, by pair and outcome. */
export class FlowPairSums {
  private sums = new Map<string, PairIncrement>();

  /** Adds the increments of one entry (out of pairIncrements). */
  add(inc: PairIncrements, srcVerdict: number, dstReason: number): void {
    this.one(srcVerdict, dstReason, inc[0], inc[1]);
    if (inc[2] > 0 || inc[3] > 0) this.one(inc[4], inc[5], inc[2], inc[3]);
  }

  private one(srcVerdict: number, dstReason: number, packets: number, bytes: number): void {
    if (packets === 0 && bytes === 0) return;
    // the outcome as the kernel would have keyed the packets in its pair counters: the entry's
    const srcIdentity = Math.floor(srcVerdict / 256);
    const dstIdentity = Math.floor(dstReason / 256);
    const verdict = verdictOf(srcVerdict % 256);
    const reason = reasonOf(dstReason % 256);
    const k = key(srcIdentity, dstIdentity, verdict, reason);
    const s = this.sums.get(k);
    if (s) {
      // the per-flow loop: a pair already summed this poll costs no allocation
      s.packets += packets;
      s.bytes += bytes;
    } else this.sums.set(k, { pair: { srcIdentity, dstIdentity, verdict, reason, packets: 0, bytes: 0 }, packets, bytes });
  }

  /** The kernel counters' increments with this poll's sums added (one figure a pair); empties the sums. */
  mergeInto(kernel: PairIncrement[]): PairIncrement[] {
    const sums = this.sums;
    this.sums = new Map();
    if (sums.size === 0) return kernel;
    const out = kernel.map((k) => {
      const kk = keyOf(k.pair);
      const s = sums.get(kk);
      if (!s) return k;
      sums.delete(kk);
      return { pair: k.pair, packets: k.packets + s.packets, bytes: k.bytes + s.bytes };
    });
    for (const s of sums.values()) out.push(s);
    return out;
  }
}
