// SPDX-License-Identifier: Apache-2.0
/**
 * The one delta between two generations: what the compiler emits with each
 * step, what the store keeps per generation, and what the control channel
 * forwards to an enforcer holding the base. applyDelta(prev, diffBundles(prev,
 * next)) reproduces next exactly (same entries, order and digest), and checks
 * the digest; foldDeltas merges a chain into one delta.
 */
import type { IpcacheEntry, PolicyEntry } from '../../native/lib/abi';
import type { Bundle, BundleDelta, PolicyKeyRef, RuleInfo } from './bundle';
import { bundleHash, canonicalIpcacheEntry, canonicalRule } from './digest';
import { comparePolicy, entryInnerKey, policyKey, policyKeyRef } from './keys';
import { sortIpcache } from './order';
import { forgetLevels, hashAfterDelta, mergeIpcache, mergePolicy, mergeRules } from './patch';

export class DeltaMismatchError extends Error {}

function diffKeyed<T, K>(prev: readonly T[], next: readonly T[], key: (t: T) => K, canon: (t: T) => string): { upsert: T[]; remove: T[] } {
  const before = new Map<K, string>();
  const prevByKey = new Map<K, T>();
  for (const e of prev) {
    before.set(key(e), canon(e));
    prevByKey.set(key(e), e);
  }
  const upsert: T[] = [];
  for (const e of next) {
    const k = key(e);
    if (before.get(k) !== canon(e)) upsert.push(e);
    prevByKey.delete(k);
  }
  return { upsert, remove: [...prevByKey.values()] };
}

/** Policy entries differ by key only through (pair, inner key); compared field by field, as 100,000+ canonical strings cost too much. */
function diffPolicy(prev: readonly PolicyEntry[], next: readonly PolicyEntry[]): { upsert: PolicyEntry[]; remove: PolicyEntry[] } {
  const before = new Map<string, Map<number, PolicyEntry>>();
  for (const e of prev) {
    const pk = `${e.srcIdentity}/${e.dstIdentity}`;
    let m = before.get(pk);
    if (!m) before.set(pk, (m = new Map()));
    m.set(entryInnerKey(e), e);
  }
  const upsert: PolicyEntry[] = [];
  for (const e of next) {
    const m = before.get(`${e.srcIdentity}/${e.dstIdentity}`);
    const k = entryInnerKey(e);
    const old = m?.get(k);
    if (!old || !sameDecision(old, e)) upsert.push(e);
    if (old) m!.delete(k);
  }
  const remove: PolicyEntry[] = [];
  for (const m of before.values()) for (const e of m.values()) remove.push(e);
  return { upsert, remove };
}

/** Whether two entries of one key are opened by the same scheduled rules (none: always). */
function sameSchedules(a: PolicyEntry, b: PolicyEntry): boolean {
  return (a.scheduleRules?.join(',') ?? '') === (b.scheduleRules?.join(',') ?? '');
}

/** Whether two entries of one key decide alike (an entry that does not is written again). */
export function sameDecision(a: PolicyEntry, b: PolicyEntry): boolean {
  return a.verdict === b.verdict && a.ruleId === b.ruleId && !!a.encryptionRequired === !!b.encryptionRequired && sameSchedules(a, b);
}

export function diffBundles(prev: Bundle, next: Bundle): BundleDelta {
  const ipc = diffKeyed(prev.ipcache, next.ipcache, (e) => e.cidr, canonicalIpcacheEntry);
  const pol = diffPolicy(prev.policy, next.policy);
  const rules = diffKeyed(prev.rules, next.rules, (r) => r.ruleId, canonicalRule);
  const upsertIds: Record<string, number> = {};
  for (const [n, id] of Object.entries(next.identities)) if (prev.identities[n] !== id) upsertIds[n] = id;
  return {
    fromGeneration: prev.generation,
    toGeneration: next.generation,
    hash: next.hash,
    identities: { upsert: upsertIds, remove: Object.keys(prev.identities).filter((n) => !Object.hasOwn(next.identities, n)).sort() },
    ipcache: { upsert: ipc.upsert, remove: ipc.remove.map((e) => e.cidr) },
    policy: { upsert: pol.upsert, remove: pol.remove.map(policyKeyRef) },
    rules: { upsert: rules.upsert, remove: rules.remove.map((r) => r.ruleId) },
    warnings: next.warnings,
    ...(next.auditAll ? { auditAll: true } : {}),
    ...(next.dnsResolvers?.length ? { dnsResolvers: [...next.dnsResolvers] } : {}),
  };
}

/** Applies a delta to the bundle it was computed from; throws DeltaMismatchError when it does not fit. */
export function applyDelta(prev: Bundle, delta: BundleDelta): Bundle {
  if (prev.generation !== delta.fromGeneration) {
    throw new DeltaMismatchError(`delta is from generation ${delta.fromGeneration}, the bundle is generation ${prev.generation}`);
  }
  const identities = { ...prev.identities };
  for (const n of delta.identities.remove) delete identities[n];
  Object.assign(identities, delta.identities.upsert);
  const sortedIds = Object.fromEntries(Object.entries(identities).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

  // Patched in order (patch.ts); the plain way where the bundle is not in the order it should be.
  const ipcache = mergeIpcache(prev.ipcache, delta.ipcache) ?? plainIpcache(prev.ipcache, delta.ipcache);
  const policy = mergePolicy(prev.policy, delta.policy) ?? plainPolicy(prev.policy, delta.policy);
  const rules = mergeRules(prev.rules, delta.rules) ?? plainRules(prev.rules, delta.rules);

  const out: Bundle = {
    generation: delta.toGeneration,
    hash: '',
    identities: sortedIds,
    ipcache,
    policy,
    rules,
    warnings: delta.warnings,
  };
  if (delta.auditAll) out.auditAll = true;
  if (delta.dnsResolvers?.length) out.dnsResolvers = [...delta.dnsResolvers];
  out.hash = hashAfterDelta(prev, delta, out);
  // levels that were not the bundle's would only cost this: the whole bundle hashed, as it was before
  if (out.hash !== delta.hash) {
    forgetLevels(out);
    out.hash = bundleHash(out);
  }
  if (out.hash !== delta.hash) throw new DeltaMismatchError(`applying the delta to generation ${prev.generation} gives hash ${out.hash}, expected ${delta.hash}`);
  return out;
}

function plainIpcache(prev: readonly IpcacheEntry[], d: BundleDelta['ipcache']): IpcacheEntry[] {
  const ipc = new Map(prev.map((e) => [e.cidr, e] as const));
  for (const c of d.remove) ipc.delete(c);
  for (const e of d.upsert) ipc.set(e.cidr, e);
  return sortIpcache([...ipc.values()]);
}

function plainPolicy(prev: readonly PolicyEntry[], d: BundleDelta['policy']): PolicyEntry[] {
  const pol = new Map(prev.map((e) => [policyKey(e), e] as const));
  for (const k of d.remove) pol.delete(policyKey(k));
  for (const e of d.upsert) pol.set(policyKey(e), e);
  return [...pol.values()].sort(comparePolicy);
}

function plainRules(prev: readonly RuleInfo[], d: BundleDelta['rules']): RuleInfo[] {
  const rules = new Map(prev.map((r) => [r.ruleId, r] as const));
  for (const id of d.remove) rules.delete(id);
  for (const r of d.upsert) rules.set(r.ruleId, r);
  return [...rules.values()].sort((a, b) => a.ruleId - b.ruleId);
}

/**
 * Folds consecutive deltas (each from the generation before it) into one from
 * the first's base to the last's result: the later change of a key wins, a
 * removal included. Applying it does what applying them one by one does.
 */
export function foldDeltas(deltas: readonly BundleDelta[]): BundleDelta {
  if (deltas.length === 1) return deltas[0];
  if (deltas.length === 0) throw new Error('no deltas to fold');
  const ids = new Map<string, number | null>();
  const ipc = new Map<string, IpcacheEntry | null>();
  const pol = new Map<string, { ref: PolicyKeyRef; entry: PolicyEntry | null }>();
  const rules = new Map<number, RuleInfo | null>();
  for (let i = 0; i < deltas.length; i++) {
    const d = deltas[i];
    if (i > 0 && d.fromGeneration !== deltas[i - 1].toGeneration) {
      throw new Error(`bundle delta chain broken: generation ${deltas[i - 1].toGeneration} then a delta from ${d.fromGeneration}`);
    }
    for (const n of d.identities.remove) ids.set(n, null);
    for (const [n, id] of Object.entries(d.identities.upsert)) ids.set(n, id);
    for (const c of d.ipcache.remove) ipc.set(c, null);
    for (const e of d.ipcache.upsert) ipc.set(e.cidr, e);
    for (const r of d.policy.remove) pol.set(policyKey(r), { ref: r, entry: null });
    for (const e of d.policy.upsert) pol.set(policyKey(e), { ref: e, entry: e });
    for (const id of d.rules.remove) rules.set(id, null);
    for (const r of d.rules.upsert) rules.set(r.ruleId, r);
  }
  const last = deltas[deltas.length - 1];
  const out: BundleDelta = {
    fromGeneration: deltas[0].fromGeneration,
    toGeneration: last.toGeneration,
    hash: last.hash,
    identities: { upsert: {}, remove: [] },
    ipcache: { upsert: [], remove: [] },
    policy: { upsert: [], remove: [] },
    rules: { upsert: [], remove: [] },
    warnings: last.warnings,
    ...(last.auditAll ? { auditAll: true } : {}),
    ...(last.dnsResolvers?.length ? { dnsResolvers: [...last.dnsResolvers] } : {}),
  };
  for (const [n, id] of ids) id === null ? out.identities.remove.push(n) : (out.identities.upsert[n] = id);
  for (const [c, e] of ipc) e === null ? out.ipcache.remove.push(c) : out.ipcache.upsert.push(e);
  for (const { ref, entry } of pol.values()) entry === null ? out.policy.remove.push(ref) : out.policy.upsert.push(entry);
  for (const [id, r] of rules) r === null ? out.rules.remove.push(id) : out.rules.upsert.push(r);
  return out;
}

/** The bundle of the last delta's generation, from the bundle of the first one's base. */
export function replay(base: Bundle, deltas: readonly BundleDelta[]): Bundle {
  if (deltas.length === 0) return base;
  return applyDelta(base, foldDeltas(deltas));
}

/** How many keys a delta touches: the control channel sends a snapshot instead when it is most of the generation. */
export function deltaSize(d: BundleDelta): number {
  return (
    Object.keys(d.identities.upsert).length +
    d.identities.remove.length +
    d.ipcache.upsert.length +
    d.ipcache.remove.length +
    d.policy.upsert.length +
    d.policy.remove.length +
    d.rules.upsert.length +
    d.rules.remove.length
  );
}
