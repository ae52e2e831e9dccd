// SPDX-License-Identifier: Apache-2.0
/**
 * A policy generation as both ends of the control channel hold it, and the
 * three operations on it that must agree bit for bit between controller and
 * enforcer: the delta between two generations, applying a delta, and the
 * content digest that proves the enforcer's copy equals the controller's.
 */
import { createHash } from 'node:crypto';
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../../native/lib/abi';
import {
  BundleDelta,
  BundleSnapshot,
  WireIpcacheEntry,
  WirePolicyEntry,
  WirePolicyKey,
  WireRuleInfo,
  WireVerdict,
} from './control';

export interface BundleState {
  generation: number;
  /** The controller's hash of the generation (opaque here). */
  hash: string;
  identities: Record<string, number>;
  ipcache: IpcacheEntry[];
  policy: PolicyEntry[];
  rules: WireRuleInfo[];
  auditAll: boolean;
  warnings: string[];
}

/** What the controller's bundle service hands out (apps/controller/src/bundles). */
export interface SourceBundle {
  generation: number;
  hash: string;
  identities: Record<string, number>;
  ipcache: IpcacheEntry[];
  policy: PolicyEntry[];
  rules?: unknown[];
  warnings?: unknown[];
  auditAll?: boolean;
}

export function fromSourceBundle(b: SourceBundle): BundleState {
  return {
    generation: b.generation,
    hash: b.hash,
    identities: { ...b.identities },
    ipcache: b.ipcache.map((e) => ({ ...e })),
    policy: b.policy.map((e) => ({ ...e })),
    rules: (b.rules ?? []).map(toWireRule),
    auditAll: b.auditAll === true,
    warnings: (b.warnings ?? []).map((w) => (typeof w === 'string' ? w : JSON.stringify(w))),
  };
}

/** The compiler's rule description is its own business: id and policy name travel typed, the rest as JSON. */
export function toWireRule(r: unknown): WireRuleInfo {
  const o = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
  const id = Number(o.id ?? o.ruleId ?? 0);
  const policy = String(o.policy ?? o.policyName ?? '');
  const { id: _i, ruleId: _r, policy: _p, policyName: _n, ...rest } = o;
  return { id, policy, detailJson: Object.keys(rest).length ? JSON.stringify(rest) : '' };
}

// ---- keys ---------------------------------------------------------------------

export function ipcacheKey(e: { cidr: string }): string {
  return e.cidr.toLowerCase();
}

function policyKeyOf(e: { srcIdentity: number; dstIdentity: number; protocol: number | null; port?: number; portPrefixLen?: number }): string {
  const plen = e.protocol === null ? 0 : (e.portPrefixLen ?? 0);
  const mask = plen > 0 ? (0xffff << (16 - plen)) & 0xffff : 0;
  return `${e.srcIdentity}>${e.dstIdentity}:${e.protocol ?? '*'}:${(e.port ?? 0) & mask}/${plen}`;
}
export const policyKey = policyKeyOf;

// ---- ABI entries <-> wire -------------------------------------------------------

const VERDICT_WIRE: Record<number, WireVerdict> = {
  [VERDICT.ALLOW]: 'VERDICT_ALLOW',
  [VERDICT.DENY]: 'VERDICT_DENY',
  [VERDICT.AUDIT]: 'VERDICT_AUDIT',
};
const WIRE_VERDICT: Record<string, PolicyEntry['verdict']> = {
  VERDICT_ALLOW: VERDICT.ALLOW,
  VERDICT_DENY: VERDICT.DENY,
  VERDICT_AUDIT: VERDICT.AUDIT,
};

export function ipcacheToWire(e: IpcacheEntry): WireIpcacheEntry {
  return { cidr: e.cidr, identity: e.identity, audit: e.audit === true, mac: e.mac ?? '' };
}
export function ipcacheFromWire(w: WireIpcacheEntry): IpcacheEntry {
  const e: IpcacheEntry = { cidr: w.cidr, identity: w.identity };
  if (w.audit) e.audit = true;
  if (w.mac) e.mac = w.mac;
  return e;
}
function policyKeyToWire(e: PolicyEntry): WirePolicyKey {
  return {
    srcIdentity: e.srcIdentity,
    dstIdentity: e.dstIdentity,
    anyProtocol: e.protocol === null,
    protocol: e.protocol ?? 0,
    port: e.port ?? 0,
    portPrefixLen: e.protocol === null ? 0 : (e.portPrefixLen ?? 0),
  };
}
function policyKeyFromWire(k: WirePolicyKey): Pick<PolicyEntry, 'srcIdentity' | 'dstIdentity' | 'protocol' | 'port' | 'portPrefixLen'> {
  const out: Pick<PolicyEntry, 'srcIdentity' | 'dstIdentity' | 'protocol' | 'port' | 'portPrefixLen'> = {
    srcIdentity: k.srcIdentity,
    dstIdentity: k.dstIdentity,
    protocol: k.anyProtocol ? null : k.protocol,
  };
  if (!k.anyProtocol && k.portPrefixLen > 0) {
    out.port = k.port;
    out.portPrefixLen = k.portPrefixLen;
  }
  return out;
}
export function policyToWire(e: PolicyEntry): WirePolicyEntry {
  return { key: policyKeyToWire(e), verdict: VERDICT_WIRE[e.verdict], ruleId: e.ruleId, encryptionRequired: e.encryptionRequired === true };
}
export function policyFromWire(w: WirePolicyEntry): PolicyEntry {
  const e: PolicyEntry = { ...policyKeyFromWire(w.key), verdict: WIRE_VERDICT[w.verdict], ruleId: w.ruleId };
  if (w.encryptionRequired) e.encryptionRequired = true;
  return e;
}

export function toSnapshot(b: BundleState): BundleSnapshot {
  return {
    identities: { ...b.identities },
    ipcache: b.ipcache.map(ipcacheToWire),
    policy: b.policy.map(policyToWire),
    rules: b.rules.map((r) => ({ ...r })),
    auditAll: b.auditAll,
    warnings: [...b.warnings],
  };
}
export function fromSnapshot(generation: number, hash: string, s: BundleSnapshot): BundleState {
  return {
    generation,
    hash,
    identities: { ...s.identities },
    ipcache: s.ipcache.map(ipcacheFromWire),
    policy: s.policy.map(policyFromWire),
    rules: s.rules.map((r) => ({ ...r })),
    auditAll: s.auditAll,
    warnings: [...s.warnings],
  };
}

// ---- delta ------------------------------------------------------------------------

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function diffBundles(prev: BundleState, next: BundleState): BundleDelta {
  const d: BundleDelta = {
    baseGeneration: prev.generation,
    identitiesSet: {},
    identitiesRemoved: [],
    ipcacheUpsert: [],
    ipcacheRemove: [],
    policyUpsert: [],
    policyRemove: [],
    rulesUpsert: [],
    rulesRemove: [],
    auditAll: next.auditAll,
    warnings: [...next.warnings],
  };
  for (const [n, id] of Object.entries(next.identities)) if (prev.identities[n] !== id) d.identitiesSet[n] = id;
  for (const n of Object.keys(prev.identities)) if (!(n in next.identities)) d.identitiesRemoved.push(n);

  const pi = new Map(prev.ipcache.map((e) => [ipcacheKey(e), ipcacheToWire(e)]));
  const ni = new Map(next.ipcache.map((e) => [ipcacheKey(e), ipcacheToWire(e)]));
  for (const [k, w] of ni) if (!same(pi.get(k), w)) d.ipcacheUpsert.push(w);
  for (const [k, w] of pi) if (!ni.has(k)) d.ipcacheRemove.push(w.cidr);

  const pp = new Map(prev.policy.map((e) => [policyKey(e), policyToWire(e)]));
  const np = new Map(next.policy.map((e) => [policyKey(e), policyToWire(e)]));
  for (const [k, w] of np) if (!same(pp.get(k), w)) d.policyUpsert.push(w);
  for (const [k, w] of pp) if (!np.has(k)) d.policyRemove.push(w.key);

  const pr = new Map(prev.rules.map((r) => [r.id, r]));
  const nr = new Map(next.rules.map((r) => [r.id, r]));
  for (const [id, r] of nr) if (!same(pr.get(id), r)) d.rulesUpsert.push(r);
  for (const id of pr.keys()) if (!nr.has(id)) d.rulesRemove.push(id);
  return d;
}

/** Applies a delta to its base; throws when the base is not the delta's base generation. */
export function applyDelta(base: BundleState, d: BundleDelta, generation: number, hash: string): BundleState {
  if (base.generation !== d.baseGeneration) {
    throw new Error(`delta from generation ${d.baseGeneration} cannot apply to generation ${base.generation}`);
  }
  const identities = { ...base.identities };
  for (const n of d.identitiesRemoved) delete identities[n];
  Object.assign(identities, d.identitiesSet);

  const ipcache = new Map(base.ipcache.map((e) => [ipcacheKey(e), e]));
  for (const c of d.ipcacheRemove) ipcache.delete(ipcacheKey({ cidr: c }));
  for (const w of d.ipcacheUpsert) ipcache.set(ipcacheKey(w), ipcacheFromWire(w));

  const policy = new Map(base.policy.map((e) => [policyKey(e), e]));
  for (const k of d.policyRemove) policy.delete(policyKey(policyKeyFromWire(k)));
  for (const w of d.policyUpsert) {
    const e = policyFromWire(w);
    policy.set(policyKey(e), e);
  }

  const rules = new Map(base.rules.map((r) => [r.id, r]));
  for (const id of d.rulesRemove) rules.delete(id);
  for (const r of d.rulesUpsert) rules.set(r.id, { ...r });

  return {
    generation,
    hash,
    identities,
    ipcache: [...ipcache.values()],
    policy: [...policy.values()],
    rules: [...rules.values()],
    auditAll: d.auditAll,
    warnings: [...d.warnings],
  };
}

export function deltaSize(d: BundleDelta): number {
  return (
    Object.keys(d.identitiesSet).length +
    d.identitiesRemoved.length +
    d.ipcacheUpsert.length +
    d.ipcacheRemove.length +
    d.policyUpsert.length +
    d.policyRemove.length +
    d.rulesUpsert.length +
    d.rulesRemove.length
  );
}

/** SHA-256 over the generation's content in a canonical order (independent of entry order). */
export function bundleDigest(b: BundleState): string {
  const h = createHash('sha256');
  const ids = Object.entries(b.identities).sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
  h.update(JSON.stringify(ids));
  const ipc = b.ipcache.map((e) => [ipcacheKey(e), JSON.stringify(ipcacheToWire(e))]).sort(byFirst);
  h.update(JSON.stringify(ipc.map((x) => x[1])));
  const pol = b.policy.map((e) => [policyKey(e), JSON.stringify(policyToWire(e))]).sort(byFirst);
  h.update(JSON.stringify(pol.map((x) => x[1])));
  const rules = [...b.rules].sort((a, c) => a.id - c.id).map((r) => [r.id, r.policy, r.detailJson]);
  h.update(JSON.stringify(rules));
  h.update(b.auditAll ? '1' : '0');
  return h.digest('hex');
}
function byFirst(a: string[], b: string[]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Segment name of every identity number (reserved names included when the bundle lists them). */
export function segmentNames(identities: Record<string, number>): Map<number, string> {
  const m = new Map<number, string>([
    [0, 'unknown'],
    [1, 'world'],
    [2, 'host'],
    [3, 'quarantine'],
  ]);
  for (const [n, id] of Object.entries(identities)) m.set(id, n);
  return m;
}
