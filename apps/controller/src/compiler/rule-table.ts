// SPDX-License-Identifier: Apache-2.0
/**
 * The rules of the compiled state by id, with the sorted list and the
 * bucketed rules digest (model/generation/digest.ts) kept up to date under
 * small changes: a change rehashes only the buckets of the ids it touches.
 */
import type { RuleInfo } from '../../../../model/generation/bundle';
import { RULE_BUCKET, ruleBucketDigest, rulesDigest } from '../../../../model/generation/digest';

export class RuleTable {
  private byId = new Map<number, RuleInfo>();
  private cache: RuleInfo[] | null = null;
  /** Rule changes not yet merged into cache (null: sort it afresh). */
  private edits: { upsert: RuleInfo[]; remove: Set<number> } | null = null;
  /** The highest rule id held: when every id up to it is held, the next free one is just above. */
  private maxId = 0;
  private buckets = new Map<number, string>();
  private digestCache: string | null = null;

  get(id: number): RuleInfo | undefined {
    return this.byId.get(id);
  }
  has(id: number): boolean {
    return this.byId.has(id);
  }
  set(r: RuleInfo): void {
    this.byId.set(r.ruleId, r);
  }
  delete(id: number): void {
    this.byId.delete(id);
  }

  /** The first id that may be free: above every id held when they are 1..max without a gap, else 1. */
  firstCandidate(): number {
    return this.byId.size === this.maxId ? this.maxId + 1 : 1;
  }

  /** After set()/delete() of a batch: the rules upserted (by id) and the ids removed, for the caches. */
  changed(upsert: RuleInfo[], removed: Set<number>): void {
    const touched = new Set<number>([...upsert.map((r) => r.ruleId), ...removed]);
    if (!touched.size) return;
    this.digestCache = null;
    for (const id of touched) this.buckets.delete(Math.floor(id / RULE_BUCKET));
    if (this.cache && !this.edits && touched.size <= 1024) this.edits = { upsert, remove: removed };
    else this.cache = this.edits = null;
    for (const r of upsert) if (r.ruleId > this.maxId) this.maxId = r.ruleId;
    if (removed.has(this.maxId)) {
      this.maxId = 0;
      for (const id of this.byId.keys()) if (id > this.maxId) this.maxId = id;
    }
  }

  /** Every rule, by id. A value: a later change gives a new list. */
  list(): RuleInfo[] {
    if (this.cache && this.edits) this.cache = mergeRules(this.cache, this.edits.upsert, this.edits.remove);
    else if (!this.cache) this.cache = [...this.byId.values()].sort((a, b) => a.ruleId - b.ruleId);
    this.edits = null;
    return this.cache;
  }

  digest(): string {
    if (this.digestCache) return this.digestCache;
    const buckets: { bucket: number; digest: string }[] = [];
    const rules = this.list();
    for (let i = 0; i < rules.length; ) {
      const bucket = Math.floor(rules[i].ruleId / RULE_BUCKET);
      let j = i + 1;
      while (j < rules.length && Math.floor(rules[j].ruleId / RULE_BUCKET) === bucket) j++;
      let digest = this.buckets.get(bucket);
      if (digest === undefined) this.buckets.set(bucket, (digest = ruleBucketDigest(rules.slice(i, j))));
      buckets.push({ bucket, digest });
      i = j;
    }
    this.levels = buckets;
    return (this.digestCache = rulesDigest(buckets));
  }
  private levels: { bucket: number; digest: string }[] = [];

  /** The bucket digests the rules digest is of. */
  bucketLevels(): Map<number, string> {
    this.digest();
    return new Map(this.levels.map((b) => [b.bucket, b.digest]));
  }
}

/** `rules` (by id) without the ids in `remove`, with `upsert` (by id) replacing or joining. */
function mergeRules(rules: readonly RuleInfo[], upsert: readonly RuleInfo[], remove: ReadonlySet<number>): RuleInfo[] {
  const out: RuleInfo[] = [];
  let j = 0;
  for (const r of rules) {
    while (j < upsert.length && upsert[j].ruleId < r.ruleId) out.push(upsert[j++]);
    if (j < upsert.length && upsert[j].ruleId === r.ruleId) out.push(upsert[j++]);
    else if (!remove.has(r.ruleId)) out.push(r);
  }
  while (j < upsert.length) out.push(upsert[j++]);
  return out;
}
