/**
 * Deltas between two bundles, for enforcers that already hold the previous
 * generation: only changed entries travel. applyDelta(prev, diffBundles(prev,
 * next)) reproduces next exactly (same entries, order and hash).
 */
import { IpcacheEntry, PolicyEntry } from '../../../../native/lib/abi';
import { parseCidr } from '../policy/net';
import type { Bundle, RuleInfo } from './compile';
import { bundleHash, canonicalIpcacheEntry, canonicalRule } from './hash';
import { compareInnerKeys, entryInnerKey, portMask } from './keys';

/** The key of a policy entry (what the datapath map is keyed by). */
export interface PolicyKeyRef {
  srcIdentity: number;
  dstIdentity: number;
  protocol: number | null;
  port?: number;
  portPrefixLen?: number;
}

export interface BundleDelta {
  fromGeneration: number;
  toGeneration: number;
  /** Hash of the bundle the delta leads to; applyDelta checks it. */
  hash: string;
  identities: { upsert: Record<string, number>; remove: string[] };
  ipcache: { upsert: IpcacheEntry[]; remove: string[] /* cidrs */ };
  policy: { upsert: PolicyEntry[]; remove: PolicyKeyRef[] };
  rules: { upsert: RuleInfo[]; remove: number[] /* rule ids */ };
  warnings: string[];
}

export class DeltaMismatchError extends Error {}

function policyKey(e: PolicyKeyRef): string {
  return `${e.srcIdentity}/${e.dstIdentity}/${entryInnerKey(e)}`;
}

export function policyKeyRef(e: PolicyKeyRef): PolicyKeyRef {
  const ref: PolicyKeyRef = { srcIdentity: e.srcIdentity, dstIdentity: e.dstIdentity, protocol: e.protocol };
  if (e.protocol !== null && e.portPrefixLen) {
    ref.port = (e.port ?? 0) & portMask(e.portPrefixLen);
    ref.portPrefixLen = e.portPrefixLen;
  }
  return ref;
}

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
    if (!old || old.verdict !== e.verdict || old.ruleId !== e.ruleId || !!old.encryptionRequired !== !!e.encryptionRequired) upsert.push(e);
    if (old) m!.delete(k);
  }
  const remove: PolicyEntry[] = [];
  for (const m of before.values()) for (const e of m.values()) remove.push(e);
  return { upsert, remove };
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
  };
}

/** Same order as compile(): by address in the 128-bit space, then prefix length. */
function sortIpcache(entries: IpcacheEntry[]): IpcacheEntry[] {
  return entries
    .map((e) => ({ e, p: parseCidr(e.cidr) }))
    .sort((a, b) => (a.p.value < b.p.value ? -1 : a.p.value > b.p.value ? 1 : a.p.len - b.p.len))
    .map((x) => x.e);
}

function comparePolicy(a: PolicyEntry, b: PolicyEntry): number {
  return a.srcIdentity - b.srcIdentity || a.dstIdentity - b.dstIdentity || compareInnerKeys(entryInnerKey(a), entryInnerKey(b));
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

  const ipc = new Map(prev.ipcache.map((e) => [e.cidr, e] as const));
  for (const c of delta.ipcache.remove) ipc.delete(c);
  for (const e of delta.ipcache.upsert) ipc.set(e.cidr, e);

  const pol = new Map(prev.policy.map((e) => [policyKey(e), e] as const));
  for (const k of delta.policy.remove) pol.delete(policyKey(k));
  for (const e of delta.policy.upsert) pol.set(policyKey(e), e);

  const rules = new Map(prev.rules.map((r) => [r.ruleId, r] as const));
  for (const id of delta.rules.remove) rules.delete(id);
  for (const r of delta.rules.upsert) rules.set(r.ruleId, r);

  const out: Bundle = {
    generation: delta.toGeneration,
    hash: '',
    identities: sortedIds,
    ipcache: sortIpcache([...ipc.values()]),
    policy: [...pol.values()].sort(comparePolicy),
    rules: [...rules.values()].sort((a, b) => a.ruleId - b.ruleId),
    warnings: delta.warnings,
  };
  out.hash = bundleHash(out);
  if (out.hash !== delta.hash) throw new DeltaMismatchError(`applying the delta to generation ${prev.generation} gives hash ${out.hash}, expected ${delta.hash}`);
  return out;
}
