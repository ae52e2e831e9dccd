// SPDX-License-Identifier: Apache-2.0
/**
 * The generation model (model/generation/) on the control channel's wire and
 * back: nothing here diffs, applies or digests (model/generation/ does, the
 * same code on both ends). An update carries one digest, Bundle.hash.
 */
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../../native/lib/abi';
import type { Bundle, BundleDelta, PolicyKeyRef, RuleInfo } from '../../../model/generation/bundle';
import type {
  BundleDelta as WireBundleDelta,
  BundleSnapshot,
  BundleUpdate,
  WireIpcacheEntry,
  WirePolicyEntry,
  WirePolicyKey,
  WireRuleAction,
  WireRuleInfo,
  WireRuleMode,
  WireVerdict,
} from './control';

// ---- entries -----------------------------------------------------------------------

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

function policyKeyToWire(e: PolicyKeyRef): WirePolicyKey {
  return {
    srcIdentity: e.srcIdentity,
    dstIdentity: e.dstIdentity,
    anyProtocol: e.protocol === null,
    protocol: e.protocol ?? 0,
    port: e.port ?? 0,
    portPrefixLen: e.protocol === null ? 0 : (e.portPrefixLen ?? 0),
  };
}
function policyKeyFromWire(k: WirePolicyKey): PolicyKeyRef {
  const out: PolicyKeyRef = { srcIdentity: k.srcIdentity, dstIdentity: k.dstIdentity, protocol: k.anyProtocol ? null : k.protocol };
  if (!k.anyProtocol && k.portPrefixLen > 0) {
    out.port = k.port;
    out.portPrefixLen = k.portPrefixLen;
  }
  return out;
}
export function policyToWire(e: PolicyEntry): WirePolicyEntry {
  return { key: policyKeyToWire(e), verdict: VERDICT_WIRE[e.verdict], ruleId: e.ruleId, encryptionRequired: e.encryptionRequired === true, scheduleRules: e.scheduleRules ?? [] };
}
export function policyFromWire(w: WirePolicyEntry): PolicyEntry {
  const e: PolicyEntry = { ...policyKeyFromWire(w.key), verdict: WIRE_VERDICT[w.verdict], ruleId: w.ruleId };
  if (w.encryptionRequired) e.encryptionRequired = true;
  if (w.scheduleRules?.length) e.scheduleRules = [...w.scheduleRules];
  return e;
}

const ACTION_WIRE: Record<RuleInfo['action'], WireRuleAction> = { allow: 'RULE_ACTION_ALLOW', deny: 'RULE_ACTION_DENY' };
const MODE_WIRE: Record<RuleInfo['mode'], WireRuleMode> = { enforce: 'RULE_MODE_ENFORCE', audit: 'RULE_MODE_AUDIT' };

export function ruleToWire(r: RuleInfo): WireRuleInfo {
  const w: WireRuleInfo = { id: r.ruleId, policy: r.policy, action: ACTION_WIRE[r.action], index: r.index, mode: MODE_WIRE[r.mode] };
  if (r.schedule) w.schedule = { timezone: r.schedule.timezone, windows: [...r.schedule.windows] };
  return w;
}
export function ruleFromWire(w: WireRuleInfo): RuleInfo {
  const r: RuleInfo = { ruleId: w.id, policy: w.policy, action: w.action === 'RULE_ACTION_DENY' ? 'deny' : 'allow', index: w.index, mode: w.mode === 'RULE_MODE_AUDIT' ? 'audit' : 'enforce' };
  if (w.schedule) r.schedule = { timezone: w.schedule.timezone, windows: [...(w.schedule.windows ?? [])] };
  return r;
}

// ---- whole generations and deltas ----------------------------------------------------

export function toSnapshot(b: Bundle): BundleSnapshot {
  return {
    identities: { ...b.identities },
    ipcache: b.ipcache.map(ipcacheToWire),
    policy: b.policy.map(policyToWire),
    rules: b.rules.map(ruleToWire),
    auditAll: b.auditAll === true,
    warnings: [...b.warnings],
    dnsResolvers: [...(b.dnsResolvers ?? [])],
  };
}

/** The generation a snapshot holds, entries in the order sent (the bundle's). */
export function fromSnapshot(generation: number, hash: string, s: BundleSnapshot): Bundle {
  const b: Bundle = {
    generation,
    hash,
    identities: { ...s.identities },
    ipcache: s.ipcache.map(ipcacheFromWire),
    policy: s.policy.map(policyFromWire),
    rules: s.rules.map(ruleFromWire),
    warnings: [...s.warnings],
  };
  if (s.auditAll) b.auditAll = true;
  if (s.dnsResolvers?.length) b.dnsResolvers = [...s.dnsResolvers];
  return b;
}

export function deltaToWire(d: BundleDelta): WireBundleDelta {
  return {
    baseGeneration: d.fromGeneration,
    identitiesSet: { ...d.identities.upsert },
    identitiesRemoved: [...d.identities.remove],
    ipcacheUpsert: d.ipcache.upsert.map(ipcacheToWire),
    ipcacheRemove: [...d.ipcache.remove],
    policyUpsert: d.policy.upsert.map(policyToWire),
    policyRemove: d.policy.remove.map(policyKeyToWire),
    rulesUpsert: d.rules.upsert.map(ruleToWire),
    rulesRemove: [...d.rules.remove],
    auditAll: d.auditAll === true,
    warnings: [...d.warnings],
    dnsResolvers: [...(d.dnsResolvers ?? [])],
  };
}

/** The delta an update carries, to the update's generation and digest. */
export function deltaFromWire(w: WireBundleDelta, toGeneration: number, hash: string): BundleDelta {
  const d: BundleDelta = {
    fromGeneration: w.baseGeneration,
    toGeneration,
    hash,
    identities: { upsert: { ...w.identitiesSet }, remove: [...w.identitiesRemoved] },
    ipcache: { upsert: w.ipcacheUpsert.map(ipcacheFromWire), remove: [...w.ipcacheRemove] },
    policy: { upsert: w.policyUpsert.map(policyFromWire), remove: w.policyRemove.map(policyKeyFromWire) },
    rules: { upsert: w.rulesUpsert.map(ruleFromWire), remove: [...w.rulesRemove] },
    warnings: [...w.warnings],
  };
  if (w.auditAll) d.auditAll = true;
  if (w.dnsResolvers?.length) d.dnsResolvers = [...w.dnsResolvers];
  return d;
}

/** An update to `b`: the delta when given (it must lead to b), the whole generation otherwise. */
export function bundleUpdate(b: Bundle, delta: BundleDelta | null, sentAt = Date.now()): BundleUpdate {
  const common = { generation: b.generation, hash: b.hash, sentAt };
  return delta ? { ...common, delta: deltaToWire(delta) } : { ...common, snapshot: toSnapshot(b) };
}
