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

const keyOf = (p: Pick<PairCount, 'srcIdentity' | 'dstIdentity' | 'verdict' | 'reason'>) => `${p.srcIdentity}|${p.dstIdentity}|${p.verdict}|${p.reason}`;

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
    const pair: PairCount = {
      srcIdentity: Math.floor(srcVerdict / 256),
      dstIdentity: Math.floor(dstReason / 256),
      verdict: verdictOf(srcVerdict % 256),
      reason: reasonOf(dstReason % 256),
      packets: 0,
      bytes: 0,
    };
    const k = keyOf(pair);
    const s = this.sums.get(k);
    if (s) {
      s.packets += packets;
      s.bytes += bytes;
    } else this.sums.set(k, { pair, packets, bytes });
  }

  /** The kernel counters' increments with this poll's sums added (one figure a pair); empties the sums. */
  mergeInto(kernel: PairIncrement[]): PairIncrement[] {
    const sums = this.sums;
    this.sums = new Map();
    if (sums.size === 0) return kernel;
    const out = kernel.map((k) => {
      const s = sums.get(keyOf(k.pair));
      if (!s) return k;
      sums.delete(keyOf(k.pair));
      return { pair: k.pair, packets: k.packets + s.packets, bytes: k.bytes + s.bytes };
    });
    for (const s of sums.values()) out.push(s);
    return out;
  }
}
