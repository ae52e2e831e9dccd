// SPDX-License-Identifier: Apache-2.0
/**
 * What `recommend` and `report unused` need from the flows: distinct
 * (source segment, destination segment, protocol, port) tuples with counters,
 * and when each policy rule last decided a packet. Bounded: at most `max`
 * tuples and `maxRules` rules, the oldest first seen (here, or in the store) forgotten first.
 *
 * Both are the site's (issue 14): what this controller saw is also kept as
 * deltas since its last flush (takeChanges()), which the store adds up with
 * the other controllers'; merge() then takes the store's rows, with the
 * deltas that arrived meanwhile on top (observed-flows.service.ts).
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
  firstUsed: number;
  lastUsed: number;
}

export const MAX_OBSERVED_TUPLES = 50_000;
export const MAX_RULE_USES = 50_000;

const tupleKey = (f: Pick<ObservedFlow, 'srcSegment' | 'dstSegment' | 'protocol' | 'port' | 'verdict'>) => `${f.srcSegment}|${f.dstSegment}|${f.protocol}|${f.port}|${f.verdict}`;
const ruleKey = (u: Pick<RuleUse, 'policy' | 'action' | 'index'>) => `${u.policy}#${u.action}#${u.index}`;

/** Moves `key` to the end of `map` (the most recently seen) with `value`. */
function touch<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  trimOldest(map, max);
}

export class ObservedFlows {
  private readonly tuples = new Map<string, ObservedFlow>();
  private readonly rules = new Map<string, RuleUse>();
  /** What this controller saw since its last flush: counters as increments, times as seen. */
  private tupleChanges = new Map<string, ObservedFlow>();
  private ruleChanges = new Map<string, RuleUse>();
  /** Since when the answers can know: this controller's start, until merge() gives the site's. */
  observedSince = Date.now();

  constructor(
    private readonly max = MAX_OBSERVED_TUPLES,
    private readonly maxRules = MAX_RULE_USES,
  ) {}

  /** On the gRPC receive path: updates in place (no copy, no reordering) when the tuple is known. */
  observe(f: Omit<ObservedFlow, 'firstSeen' | 'lastSeen'>, t: number): void {
    const key = tupleKey(f);
    let v = this.tuples.get(key);
    if (v) addSeen(v, f.packets, f.bytes, t);
    else {
      this.tuples.set(key, (v = { ...f, firstSeen: t, lastSeen: t }));
      trimOldest(this.tuples, this.max);
    }
    const d = this.tupleChanges.get(key);
    if (d) addSeen(d, f.packets, f.bytes, t);
    else {
      this.tupleChanges.set(key, { ...f, firstSeen: v.firstSeen, lastSeen: t });
      // A store out of reach for long: the oldest deltas go, like the table's entries.
      trimOldest(this.tupleChanges, this.max);
    }
  }

  useRule(policy: string, action: 'allow' | 'deny', index: number, packets: number, t: number): void {
    const key = `${policy}#${action}#${index}`;
    let u = this.rules.get(key);
    if (u) addUsed(u, packets, t);
    else {
      this.rules.set(key, (u = { policy, action, index, packets, firstUsed: t, lastUsed: t }));
      trimOldest(this.rules, this.maxRules);
    }
    const d = this.ruleChanges.get(key);
    if (d) addUsed(d, packets, t);
    else {
      this.ruleChanges.set(key, { policy, action, index, packets, firstUsed: u.firstUsed, lastUsed: t });
      trimOldest(this.ruleChanges, this.maxRules);
    }
  }

  list(since = 0): ObservedFlow[] {
    return [...this.tuples.values()].filter((f) => f.lastSeen >= since);
  }

  ruleUses(): RuleUse[] {
    return [...this.rules.values()];
  }

  /** The deltas since the last flush; from now on new deltas start from zero. */
  takeChanges(): { tuples: ObservedFlow[]; rules: RuleUse[] } {
    const out = { tuples: [...this.tupleChanges.values()], rules: [...this.ruleChanges.values()] };
    this.tupleChanges = new Map();
    this.ruleChanges = new Map();
    return out;
  }

  /** A flush that failed: its deltas go back, under the ones that came since. */
  restoreChanges(taken: { tuples: readonly ObservedFlow[]; rules: readonly RuleUse[] }): void {
    this.tupleChanges = underneath(taken.tuples, this.tupleChanges, tupleKey, addTuple, this.max);
    this.ruleChanges = underneath(taken.rules, this.ruleChanges, ruleKey, addUse, this.maxRules);
  }

  /** Rows of the store (the site's sums): each replaces its entry, with this controller's unflushed deltas on top. */
  merge(rows: { tuples: readonly ObservedFlow[]; rules: readonly RuleUse[]; startedMs: number | null }): void {
    // Oldest first, so that the Maps' order stays least recently seen first.
    for (const row of [...rows.tuples].sort((a, b) => a.lastSeen - b.lastSeen)) {
      const key = tupleKey(row);
      const d = this.tupleChanges.get(key);
      touch(this.tuples, key, d ? addTuple({ ...row }, d) : { ...row }, this.max);
    }
    for (const row of [...rows.rules].sort((a, b) => a.lastUsed - b.lastUsed)) {
      const key = ruleKey(row);
      const d = this.ruleChanges.get(key);
      touch(this.rules, key, d ? addUse({ ...row }, d) : { ...row }, this.maxRules);
    }
    if (rows.startedMs !== null) this.observedSince = Math.min(this.observedSince, rows.startedMs);
  }
}

function addSeen(x: ObservedFlow, packets: number, bytes: number, t: number): void {
  x.packets += packets;
  x.bytes += bytes;
  if (t > x.lastSeen) x.lastSeen = t;
  if (t < x.firstSeen) x.firstSeen = t;
}
function addUsed(x: RuleUse, packets: number, t: number): void {
  x.packets += packets;
  if (t > x.lastUsed) x.lastUsed = t;
  if (t < x.firstUsed) x.firstUsed = t;
}

/** `base` with `d` on top: counters added, times widened; the reason and sample first seen kept. */
function addTuple(base: ObservedFlow, d: ObservedFlow): ObservedFlow {
  addSeen(base, d.packets, d.bytes, d.lastSeen);
  if (d.firstSeen < base.firstSeen) base.firstSeen = d.firstSeen;
  return base;
}

function addUse(base: RuleUse, d: RuleUse): RuleUse {
  addUsed(base, d.packets, d.lastUsed);
  if (d.firstUsed < base.firstUsed) base.firstUsed = d.firstUsed;
  return base;
}

/** Deltas `older` with the `newer` ones added on top, in the newer's order after the older's. */
function underneath<T>(older: readonly T[], newer: Map<string, T>, key: (x: T) => string, add: (base: T, d: T) => T, max: number): Map<string, T> {
  const out = new Map(older.map((x) => [key(x), x]));
  for (const [k, d] of newer) {
    const c = out.get(k);
    touch(out, k, c ? add(c, d) : d, max);
  }
  return out;
}
