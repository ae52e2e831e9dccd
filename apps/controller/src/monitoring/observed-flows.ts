// SPDX-License-Identifier: Apache-2.0
/**
 * What `recommend` and `report unused` need from the flows: distinct
 * (source segment, destination segment, protocol, port) tuples with counters,
 * and when each policy rule last decided a packet. Bounded.
 */
import { trimOldest } from '../../../common/src/lru';

export interface ObservedFlow {
  srcSegment: string;
  dstSegment: string;
  protocol: number;
  /** tcp/udp destination port; 0 for other protocols. */
  port: number;
  verdict: string;
  reason: string;
  packets: number;
  bytes: number;
  firstSeen: number;
  lastSeen: number;
  /** A sample flow for the evidence: src -> dst. */
  sample: string;
}

export interface RuleUse {
  policy: string;
  action: 'allow' | 'deny';
  index: number;
  packets: number;
  lastUsed: number;
}

export class ObservedFlows {
  private readonly tuples = new Map<string, ObservedFlow>();
  private readonly rules = new Map<string, RuleUse>();
  constructor(private readonly max = 50_000) {}

  observe(f: Omit<ObservedFlow, 'firstSeen' | 'lastSeen'>, t: number): void {
    const key = `${f.srcSegment}|${f.dstSegment}|${f.protocol}|${f.port}|${f.verdict}`;
    const v = this.tuples.get(key);
    if (v) {
      v.packets += f.packets;
      v.bytes += f.bytes;
      if (t > v.lastSeen) v.lastSeen = t;
      return;
    }
    this.tuples.set(key, { ...f, firstSeen: t, lastSeen: t });
    trimOldest(this.tuples, this.max);
  }

  useRule(policy: string, action: 'allow' | 'deny', index: number, packets: number, t: number): void {
    const key = `${policy}#${action}#${index}`;
    const u = this.rules.get(key);
    if (u) {
      u.packets += packets;
      if (t > u.lastUsed) u.lastUsed = t;
    } else this.rules.set(key, { policy, action, index, packets, lastUsed: t });
  }

  list(since = 0): ObservedFlow[] {
    return [...this.tuples.values()].filter((f) => f.lastSeen >= since);
  }

  ruleUses(): RuleUse[] {
    return [...this.rules.values()];
  }
}
