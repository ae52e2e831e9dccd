// SPDX-License-Identifier: Apache-2.0
/**
 * The digest of a generation (Bundle.hash): what a bundle is, independent of how it was computed
 * (fresh or incrementally) and of its generation and warnings.
 *
 * It is a two-level hash tree so that a small change costs a small rehash:
 *   source digest  = sha256 of the canonical lines of one source identity's
 *                    entries, in bundle order (each line names its pair)
 *   policy digest  = sha256 of "src source-digest" lines, by src
 *   rule bucket    = sha256 of the canonical lines of rules with ids in [256b, 256b + 256)
 *   rules digest   = sha256 of "b bucket-digest" lines, in bucket order
 *   ipcache bucket = sha256 of the sorted canonical lines of the ipcache entries
 *                    whose CIDR text hashes (FNV-1a) to that bucket, of 1024
 *   ipcache digest = sha256 of "b bucket-digest" lines, in bucket order
 *   identities     = sha256 of "name id" lines, by name
 *   hash           = sha256 of "cordon-bundle-v2" and the four digests (and an
 *                    "audit-all" line when global audit mode is on, a "dns"
 *                    line of the sorted resolvers when there are any).
 * Every level is sha256 over an unambiguous encoding, so the tree is as
 * collision resistant as a flat hash (unlike xor- or sum-of-hashes schemes).
 * The compiler keeps the tree's levels to rehash a change cheaply; the store
 * checks a rebuilt generation against it; the enforcer checks every generation
 * it builds from an update against it. There is no other digest.
 */
import { createHash } from 'node:crypto';
import type { IpcacheEntry, PolicyEntry } from '../../native/lib/abi';
import type { Bundle, RuleInfo } from './bundle';
import { portMask } from './keys';

export const HASH_VERSION = 'cordon-bundle-v2';
/** Rule ids per rule bucket. */
export const RULE_BUCKET = 256;

export function canonicalPolicyEntry(e: PolicyEntry): string {
  // A template rather than [...].join(' '): this runs for every one of 100,000+ entries.
  const port = e.portPrefixLen ? `${(e.port ?? 0) & portMask(e.portPrefixLen)}/${e.portPrefixLen}` : '*';
  const line = `${e.srcIdentity} ${e.dstIdentity} ${e.protocol ?? '*'} ${port} ${e.verdict} ${e.ruleId} ${e.encryptionRequired ? 'E' : ''}`;
  return e.scheduleRules?.length ? `${line} S${e.scheduleRules.join(',')}` : line;
}

export function canonicalIpcacheEntry(e: IpcacheEntry): string {
  return [e.cidr, e.identity, e.audit ? 'A' : '', e.mac ?? ''].join(' ');
}

export function canonicalRule(r: RuleInfo): string {
  const line = [r.ruleId, r.policy, r.action, r.index, r.mode].join(' ');
  return r.schedule ? `${line} ${JSON.stringify([r.schedule.timezone, r.schedule.windows])}` : line;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Digest of one source identity's entries, given as its pairs' entry lists in dst order. */
export function sourceDigest(pairs: Iterable<readonly PolicyEntry[]>): string {
  const h = createHash('sha256');
  let chunk = '';
  for (const entries of pairs) {
    for (const e of entries) chunk += canonicalPolicyEntry(e) + '\n';
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  return h.update(chunk).digest('hex');
}

/** Digest of (src, source digest) pairs, given in src order. */
export function policyDigest(sources: Iterable<{ src: number; digest: string }>): string {
  let s = '';
  for (const p of sources) s += `${p.src} ${p.digest}\n`;
  return sha256(s);
}

export const IPCACHE_BUCKETS = 1024;

/** The ipcache bucket of a CIDR text: FNV-1a, so that it needs no parsing and spreads evenly. */
export function ipcacheBucket(cidr: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < cidr.length; i++) h = Math.imul(h ^ cidr.charCodeAt(i), 0x01000193);
  return (h >>> 0) % IPCACHE_BUCKETS;
}

/** Digest of one ipcache bucket's canonical lines (sorted here). */
export function ipcacheBucketDigest(lines: Iterable<string>): string {
  return sha256([...lines].sort().join('\n') + '\n');
}

/** Digest of (bucket, digest) pairs of the non-empty ipcache buckets, in bucket order. */
export function ipcacheDigest(buckets: Iterable<{ bucket: number; digest: string }>): string {
  let s = '';
  for (const b of buckets) s += `${b.bucket} ${b.digest}\n`;
  return sha256(s);
}

/** Digest of the rules of one bucket, given in rule id order. */
export function ruleBucketDigest(rules: Iterable<RuleInfo>): string {
  let s = '';
  for (const r of rules) s += canonicalRule(r) + '\n';
  return sha256(s);
}

/** Digest of (bucket, digest) pairs of the non-empty buckets, in bucket order. */
export function rulesDigest(buckets: Iterable<{ bucket: number; digest: string }>): string {
  let s = '';
  for (const b of buckets) s += `${b.bucket} ${b.digest}\n`;
  return sha256(s);
}

export function identitiesDigest(ids: Readonly<Record<string, number>>): string {
  let s = '';
  for (const name of Object.keys(ids).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) s += `${name} ${ids[name]}\n`;
  return sha256(s);
}

export function combineDigests(d: { identities: string; ipcache: string; policy: string; rules: string; auditAll?: boolean; dnsResolvers?: readonly string[] }): string {
  const audit = d.auditAll ? 'audit-all\n' : '';
  const dns = d.dnsResolvers?.length ? `dns ${d.dnsResolvers.join(' ')}\n` : '';
  return sha256(`${HASH_VERSION}\nidentities ${d.identities}\nipcache ${d.ipcache}\npolicy ${d.policy}\nrules ${d.rules}\n${audit}${dns}`);
}

/** The hash of a whole bundle (policy entries grouped by pair and rules by id, as compile() orders them). */
export function bundleHash(b: Pick<Bundle, 'identities' | 'ipcache' | 'policy' | 'rules' | 'auditAll' | 'dnsResolvers'>): string {
  const sources: { src: number; digest: string }[] = [];
  for (let i = 0; i < b.policy.length; ) {
    const src = b.policy[i].srcIdentity;
    let j = i + 1;
    while (j < b.policy.length && b.policy[j].srcIdentity === src) j++;
    sources.push({ src, digest: sourceDigest([b.policy.slice(i, j)]) });
    i = j;
  }
  const buckets: { bucket: number; digest: string }[] = [];
  for (let i = 0; i < b.rules.length; ) {
    const bucket = Math.floor(b.rules[i].ruleId / RULE_BUCKET);
    let j = i + 1;
    while (j < b.rules.length && Math.floor(b.rules[j].ruleId / RULE_BUCKET) === bucket) j++;
    buckets.push({ bucket, digest: ruleBucketDigest(b.rules.slice(i, j)) });
    i = j;
  }
  const ipc = new Map<number, string[]>();
  for (const e of b.ipcache) {
    const k = ipcacheBucket(e.cidr);
    let lines = ipc.get(k);
    if (!lines) ipc.set(k, (lines = []));
    lines.push(canonicalIpcacheEntry(e));
  }
  return combineDigests({
    identities: identitiesDigest(b.identities),
    ipcache: ipcacheDigest([...ipc.keys()].sort((x, y) => x - y).map((bucket) => ({ bucket, digest: ipcacheBucketDigest(ipc.get(bucket)!) }))),
    policy: policyDigest(sources),
    rules: rulesDigest(buckets),
    auditAll: b.auditAll === true,
    dnsResolvers: b.dnsResolvers,
  });
}
