// SPDX-License-Identifier: Apache-2.0
/**
 * applyDelta at the cost of the delta, not of the bundle (a site-scale bundle
 * holds 100,000+ policy entries; a one-policy delta touches a few): the
 * sorted arrays are patched by a merge instead of rebuilt through maps and
 * sorted again, and the digest tree (digest.ts) is rehashed only where the
 * delta touched it, from the levels kept for the bundle it applies to. The
 * result is the one the plain way gives: same entries, same order, same hash.
 */
import type { IpcacheEntry, PolicyEntry } from '../../native/lib/abi';
import type { Bundle, BundleDelta, PolicyKeyRef, RuleInfo } from './bundle';
import {
  combineDigests,
  identitiesDigest,
  ipcacheBucket,
  ipcacheBucketDigest,
  canonicalIpcacheEntry,
  ipcacheDigest,
  policyDigest,
  RULE_BUCKET,
  ruleBucketDigest,
  rulesDigest,
  sourceDigest,
} from './digest';
import { comparePolicy } from './keys';
import { compareOrderKeys, orderKey, sortIpcache } from './order';

/**
 * `prev` (strictly ascending by cmp) without the keys of `remove` and with
 * `upsert` (the last of equal keys wins), in order; null when `prev` is not
 * strictly ascending (the caller sorts then).
 */
export function mergeSorted<T, R>(prev: readonly T[], remove: readonly R[], upsert: readonly T[], cmp: (a: T | R, b: T | R) => number): T[] | null {
  const ups: T[] = [];
  // stable: of equal keys, the last given is the one kept
  for (const u of [...upsert].sort(cmp)) {
    if (ups.length && cmp(ups[ups.length - 1], u) === 0) ups[ups.length - 1] = u;
    else ups.push(u);
  }
  const rms = [...remove].sort(cmp);
  const out: T[] = [];
  let j = 0;
  let r = 0;
  for (let i = 0; i < prev.length; i++) {
    const e = prev[i];
    if (i > 0 && cmp(prev[i - 1], e) >= 0) return null;
    while (j < ups.length && cmp(ups[j], e) < 0) out.push(ups[j++]);
    while (r < rms.length && cmp(rms[r], e) < 0) r++;
    if (j < ups.length && cmp(ups[j], e) === 0) out.push(ups[j++]);
    else if (!(r < rms.length && cmp(rms[r], e) === 0)) out.push(e);
  }
  while (j < ups.length) out.push(ups[j++]);
  return out;
}

export const mergePolicy = (prev: readonly PolicyEntry[], d: BundleDelta['policy']) =>
  mergeSorted<PolicyEntry, PolicyKeyRef>(prev, d.remove, d.upsert, (a, b) => comparePolicy(a as PolicyEntry, b as PolicyEntry));

const ruleId = (x: RuleInfo | number) => (typeof x === 'number' ? x : x.ruleId);
export const mergeRules = (prev: readonly RuleInfo[], d: BundleDelta['rules']) => mergeSorted<RuleInfo, number>(prev, d.remove, d.upsert, (a, b) => ruleId(a) - ruleId(b));

/**
 * The ipcache with a delta applied, in the order sortIpcache gives a map of
 * it (entries kept where they are, removed ones dropped, new ones after the
 * entries they sort with); null when `prev` holds a CIDR twice.
 */
export function mergeIpcache(prev: readonly IpcacheEntry[], d: BundleDelta['ipcache']): IpcacheEntry[] | null {
  const at = new Map<string, number>();
  for (let i = 0; i < prev.length; i++) at.set(prev[i].cidr, i);
  if (at.size !== prev.length) return null;
  const out: (IpcacheEntry | null)[] = prev.slice();
  for (const c of d.remove) {
    const i = at.get(c);
    if (i !== undefined) out[i] = null;
  }
  const fresh = new Map<string, IpcacheEntry>();
  for (const e of d.upsert) {
    const i = at.get(e.cidr);
    // a map keeps a kept key where it was; one removed and set again goes last, as a new one
    if (i !== undefined && out[i] !== null && !fresh.has(e.cidr)) out[i] = e;
    else fresh.set(e.cidr, e);
  }
  const kept = out.filter((e): e is IpcacheEntry => e !== null);
  if (!fresh.size) return kept;
  // Each new entry after every kept one that sorts with or before it (a stable sort keeps the map's order, new ones last).
  const result: IpcacheEntry[] = [];
  let from = 0;
  for (const e of sortIpcache([...fresh.values()])) {
    const k = orderKey(e.cidr);
    let lo = from;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareOrderKeys(orderKey(kept[mid].cidr), k) <= 0) lo = mid + 1;
      else hi = mid;
    }
    for (let i = from; i < lo; i++) result.push(kept[i]);
    result.push(e);
    from = lo;
  }
  for (let i = from; i < kept.length; i++) result.push(kept[i]);
  return result;
}

/** The digest tree's levels of one bundle: per source identity, rule bucket and ipcache bucket. */
interface Levels {
  sources: Map<number, string>;
  rules: Map<number, string>;
  ipcache: Map<number, string>;
}

/** Levels of the bundles hashed or built here (bundles are values: never changed once made). */
const levels = new WeakMap<object, Levels>();

/** A bundle's levels as its compiler hashed them (compiler/incremental.ts), so that a delta from it rehashes only what it touches. */
export function rememberLevels(b: object, l: Levels): void {
  levels.set(b, l);
}

/** Drops the levels kept for a bundle (they did not give its hash); counted, as that should never happen. */
export function forgetLevels(b: object): void {
  levels.delete(b);
  levelMisses.count++;
}
export const levelMisses = { count: 0 };

function levelsOf(b: Pick<Bundle, 'policy' | 'rules' | 'ipcache'>): Levels {
  const hit = levels.get(b);
  if (hit) return hit;
  const out: Levels = { sources: new Map(), rules: new Map(), ipcache: new Map() };
  for (let i = 0; i < b.policy.length; ) {
    const src = b.policy[i].srcIdentity;
    let j = i + 1;
    while (j < b.policy.length && b.policy[j].srcIdentity === src) j++;
    out.sources.set(src, sourceDigest([b.policy.slice(i, j)]));
    i = j;
  }
  for (let i = 0; i < b.rules.length; ) {
    const bucket = Math.floor(b.rules[i].ruleId / RULE_BUCKET);
    let j = i + 1;
    while (j < b.rules.length && Math.floor(b.rules[j].ruleId / RULE_BUCKET) === bucket) j++;
    out.rules.set(bucket, ruleBucketDigest(b.rules.slice(i, j)));
    i = j;
  }
  const lines = new Map<number, string[]>();
  for (const e of b.ipcache) {
    const k = ipcacheBucket(e.cidr);
    let l = lines.get(k);
    if (!l) lines.set(k, (l = []));
    l.push(canonicalIpcacheEntry(e));
  }
  for (const [k, l] of lines) out.ipcache.set(k, ipcacheBucketDigest(l));
  levels.set(b, out);
  return out;
}

/** [from, to) of the run of `xs` (ascending by key) whose key is k. */
function run<T>(xs: readonly T[], key: (x: T) => number, k: number): [number, number] {
  const lower = (want: number) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (key(xs[mid]) < want) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return [lower(k), lower(k + 1)];
}

const ascending = (m: Map<number, string>) => [...m.keys()].sort((a, b) => a - b);

/**
 * The hash of `next`, `prev` with `delta` applied (policy grouped by source,
 * rules by id, as bundleHash takes them), rehashing only the sources and
 * buckets the delta touches; keeps `next`'s levels for the delta after it.
 */
export function hashAfterDelta(prev: Bundle, delta: BundleDelta, next: Omit<Bundle, 'hash'>): string {
  const p = levelsOf(prev);
  const l: Levels = { sources: new Map(p.sources), rules: new Map(p.rules), ipcache: new Map(p.ipcache) };
  const srcs = new Set<number>([...delta.policy.upsert.map((e) => e.srcIdentity), ...delta.policy.remove.map((e) => e.srcIdentity)]);
  for (const src of srcs) {
    const [a, b] = run(next.policy, (e) => e.srcIdentity, src);
    if (a === b) l.sources.delete(src);
    else l.sources.set(src, sourceDigest([next.policy.slice(a, b)]));
  }
  const buckets = new Set<number>([...delta.rules.upsert.map((r) => Math.floor(r.ruleId / RULE_BUCKET)), ...delta.rules.remove.map((id) => Math.floor(id / RULE_BUCKET))]);
  for (const bucket of buckets) {
    const [a, b] = run(next.rules, (r) => Math.floor(r.ruleId / RULE_BUCKET), bucket);
    if (a === b) l.rules.delete(bucket);
    else l.rules.set(bucket, ruleBucketDigest(next.rules.slice(a, b)));
  }
  const touched = new Set<number>([...delta.ipcache.upsert.map((e) => ipcacheBucket(e.cidr)), ...delta.ipcache.remove.map(ipcacheBucket)]);
  if (touched.size) {
    const lines = new Map<number, string[]>([...touched].map((k) => [k, []]));
    for (const e of next.ipcache) lines.get(ipcacheBucket(e.cidr))?.push(canonicalIpcacheEntry(e));
    for (const [k, ls] of lines) {
      if (ls.length) l.ipcache.set(k, ipcacheBucketDigest(ls));
      else l.ipcache.delete(k);
    }
  }
  levels.set(next, l);
  return combineDigests({
    identities: identitiesDigest(next.identities),
    ipcache: ipcacheDigest(ascending(l.ipcache).map((bucket) => ({ bucket, digest: l.ipcache.get(bucket)! }))),
    policy: policyDigest(ascending(l.sources).map((src) => ({ src, digest: l.sources.get(src)! }))),
    rules: rulesDigest(ascending(l.rules).map((bucket) => ({ bucket, digest: l.rules.get(bucket)! }))),
    auditAll: next.auditAll,
    dnsResolvers: next.dnsResolvers,
  });
}
