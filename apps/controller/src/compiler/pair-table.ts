// SPDX-License-Identifier: Apache-2.0
/**
 * The compiled policy entries of every identity pair, kept sorted by pair, with
 * the per-source digests of model/generation/digest.ts: a recompiled pair
 * rehashes only its source, and the flat policy list is built when first read.
 */
import type { PolicyEntry } from '../../../../native/lib/abi';
import type { BundleDelta, PolicyKeyRef } from '../../../../model/generation/bundle';
import { policyDigest, sourceDigest } from '../../../../model/generation/digest';
import { compareInnerKeys, entryInnerKey, policyKeyRef } from '../../../../model/generation/keys';
import { sameDecision } from '../../../../model/generation/delta';

export interface PairState {
  key: string;
  src: number;
  dst: number;
  /** The policies covering the pair. */
  policies: Set<string>;
  /** Sorted by inner key; replaced, never changed, when the pair is recompiled. */
  entries: PolicyEntry[];
}

const cmpPair = (a: { src: number; dst: number }, b: { src: number; dst: number }) => a.src - b.src || a.dst - b.dst;
const pairKey = (src: number, dst: number) => `${src}/${dst}`;

export class PairTable {
  private pairs = new Map<string, PairState>();
  /** The pairs with entries, by (src, dst). */
  private sorted: PairState[] = [];
  /** Digest of each source identity's pairs. */
  private sourceDigests = new Map<number, string>();
  private digestCache: string | null = null;
  /** The current policy list, built on first read (null: the pairs changed since). */
  private listCache: (() => PolicyEntry[]) | null = null;

  get(src: number, dst: number): PairState | undefined {
    return this.pairs.get(pairKey(src, dst));
  }

  getOrCreate(src: number, dst: number): PairState {
    const k = pairKey(src, dst);
    let pair = this.pairs.get(k);
    if (!pair) this.pairs.set(k, (pair = { key: k, src, dst, policies: new Set(), entries: [] }));
    return pair;
  }

  /** Recompiles the dirty pairs with `compile` and returns the policy section of the delta (empty when `fresh`). */
  recompile(dirty: Set<PairState>, compile: (pair: PairState) => PolicyEntry[], fresh = false): BundleDelta['policy'] {
    const upsert: PolicyEntry[] = [];
    const remove: PolicyKeyRef[] = [];
    if (dirty.size === 0) return { upsert, remove };
    this.digestCache = null;
    const results: { pair: PairState; before: PolicyEntry[]; after: PolicyEntry[] }[] = [];
    for (const pair of dirty) {
      const before = pair.entries;
      const after = pair.policies.size ? compile(pair) : [];
      if (!fresh) diffEntries(before, after, upsert, remove);
      results.push({ pair, before, after });
      this.sourceDigests.delete(pair.src);
    }

    this.listCache = null;

    const born: PairState[] = [];
    const dead: PairState[] = [];
    for (const { pair, before, after } of results) {
      pair.entries = after;
      if (pair.policies.size === 0) this.pairs.delete(pair.key);
      if (!before.length && after.length) born.push(pair);
      else if (before.length && !after.length) dead.push(pair);
    }
    if (fresh || born.length + dead.length > 64) {
      this.sorted = [...this.pairs.values()].filter((p) => p.entries.length).sort(cmpPair);
    } else {
      for (const p of dead) this.sorted.splice(this.indexOf(p), 1);
      for (const p of born) this.sorted.splice(this.indexOf(p), 0, p);
    }
    return { upsert, remove };
  }

  /** The policy digest from the cached source digests, recomputing those of changed sources. */
  digest(): string {
    if (this.digestCache) return this.digestCache;
    const sources: { src: number; digest: string }[] = [];
    const pairs = this.sorted;
    for (let i = 0; i < pairs.length; ) {
      const src = pairs[i].src;
      let j = i + 1;
      while (j < pairs.length && pairs[j].src === src) j++;
      let digest = this.sourceDigests.get(src);
      if (digest === undefined) this.sourceDigests.set(src, (digest = sourceDigest(pairs.slice(i, j).map((p) => p.entries))));
      sources.push({ src, digest });
      i = j;
    }
    this.levels = sources;
    return (this.digestCache = policyDigest(sources));
  }
  private levels: { src: number; digest: string }[] = [];

  /** The source digests the policy digest is of (model/generation/patch.ts keeps them with the bundle). */
  sourceLevels(): Map<number, string> {
    this.digest();
    return new Map(this.levels.map((s) => [s.src, s.digest]));
  }

  /**
   * The flat policy list of the pairs as they stand, built on first call. Each
   * pair's entries are replaced, never changed, when it is recompiled: the list
   * of them now is this generation's policy, whatever later updates do.
   */
  list(): () => PolicyEntry[] {
    if (!this.listCache) {
      const parts = this.sorted.map((p) => p.entries);
      let list: PolicyEntry[] | null = null;
      this.listCache = () => (list ??= concatParts(parts));
    }
    return this.listCache;
  }

  private indexOf(p: { src: number; dst: number }): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmpPair(this.sorted[mid], p) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function concatParts(parts: readonly PolicyEntry[][]): PolicyEntry[] {
  let n = 0;
  for (const p of parts) n += p.length;
  const out: PolicyEntry[] = new Array(n);
  let i = 0;
  for (const p of parts) for (const e of p) out[i++] = e;
  return out;
}

/** Adds to upsert/remove what turns `before` into `after` (both in inner-key order, one pair). */
function diffEntries(before: readonly PolicyEntry[], after: readonly PolicyEntry[], upsert: PolicyEntry[], remove: PolicyKeyRef[]) {
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const c = i >= before.length ? 1 : j >= after.length ? -1 : compareInnerKeys(entryInnerKey(before[i]), entryInnerKey(after[j]));
    if (c < 0) remove.push(policyKeyRef(before[i++]));
    else if (c > 0) upsert.push(after[j++]);
    else {
      if (!sameDecision(before[i], after[j])) upsert.push(after[j]);
      i++;
      j++;
    }
  }
}
