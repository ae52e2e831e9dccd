// SPDX-License-Identifier: Apache-2.0
/**
 * Least privilege from observation: the smallest set of Policy documents that
 * allows exactly the observed (source segment, destination segment, protocol,
 * port) tuples. Exact means no rule covers a tuple that was not observed:
 *   - ports merge into a range only when every port of the range was observed;
 *   - pairs with identical rules merge into one policy only when the merge is a
 *     full cross product (from [a, b] to [c] is exactly a->c and b->c).
 * ICMP flows become echo-request (the only ICMP the datapath tracks as a flow).
 * A server the devices reached by name (`fqdn:NAME`, from the flows' dst_name)
 * becomes a `{ fqdn: NAME }` target: the exact name observed, never a pattern
 * and never its addresses, which move.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { ObservedFlow } from '../monitoring/observed-flows';
import { API_VERSION, BUILTIN_SEGMENTS, type Policy } from '../policy/schema';
import { fqdnOfIdentityName } from '../../../../model/generation/fqdn';

export interface RecommendOptions {
  /** Segment names that exist (documents) besides the built-ins; tuples naming others are skipped. */
  segments: ReadonlySet<string>;
  /** Name prefix of the policies (default `recommended`). */
  prefix?: string;
}

export interface Recommendation {
  documents: Policy[];
  yaml: string;
  /** Tuples covered. */
  flows: number;
  skipped: { tuple: string; reason: string }[];
}

type RuleOut = { protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number; ports?: string[]; types?: string[] };

export function portRanges(ports: number[]): string[] {
  const s = [...new Set(ports)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(i === j ? String(s[i]) : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out;
}

function rulesFor(tuples: ObservedFlow[]): RuleOut[] {
  const byProto = new Map<number, number[]>();
  for (const t of tuples) {
    const l = byProto.get(t.protocol) ?? [];
    l.push(t.port);
    byProto.set(t.protocol, l);
  }
  const out: RuleOut[] = [];
  for (const proto of [...byProto.keys()].sort((a, b) => a - b)) {
    const ports = byProto.get(proto)!;
    if (proto === 6 || proto === 17) out.push({ protocol: proto === 6 ? 'tcp' : 'udp', ports: portRanges(ports) });
    else if (proto === 1) out.push({ protocol: 'icmp', types: ['echo-request'] });
    else if (proto === 58) out.push({ protocol: 'icmpv6', types: ['echo-request'] });
    else out.push({ protocol: proto });
  }
  return out;
}

/** A target of a policy: a segment name, or `{ fqdn }` for a name selector's identity name. */
const target = (name: string): string | { fqdn: string } => {
  const fqdn = fqdnOfIdentityName(name);
  return fqdn === null ? name : { fqdn };
};

function policyName(prefix: string, from: string[], toNames: string[], taken: Set<string>): string {
  // a name's dots and a pattern's star are no characters of a document name
  const to = toNames.map((t) => (fqdnOfIdentityName(t) ?? t).replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, ''));
  const base = `${prefix}-${from.length > 1 ? `${from[0]}-and-${from.length - 1}` : from[0]}-to-${to.length > 1 ? `${to[0]}-and-${to.length - 1}` : to[0]}`;
  let name = base.length <= 63 ? base : `${base.slice(0, 54).replace(/-+$/, '')}-${createHash('sha256').update(base).digest('hex').slice(0, 8)}`;
  for (let i = 2; taken.has(name); i++) name = `${name.slice(0, 60)}-${i}`;
  taken.add(name);
  return name;
}

export function recommend(observed: readonly ObservedFlow[], opts: RecommendOptions): Recommendation {
  const known = (s: string) => opts.segments.has(s) || (BUILTIN_SEGMENTS as readonly string[]).includes(s) || fqdnOfIdentityName(s) !== null;
  const skipped: Recommendation['skipped'] = [];
  const pairs = new Map<string, ObservedFlow[]>();
  let flows = 0;
  for (const f of observed) {
    const tuple = `${f.srcSegment} -> ${f.dstSegment} ${f.protocol}/${f.port}`;
    if (f.srcSegment === 'quarantine' || f.dstSegment === 'quarantine') {
      skipped.push({ tuple, reason: 'quarantine traffic is the posture rules’ business' });
      continue;
    }
    if (!known(f.srcSegment) || !known(f.dstSegment)) {
      skipped.push({ tuple, reason: `segment ${known(f.srcSegment) ? f.dstSegment : f.srcSegment} no longer exists` });
      continue;
    }
    const k = `${f.srcSegment}\u0000${f.dstSegment}`;
    const l = pairs.get(k) ?? [];
    l.push(f);
    pairs.set(k, l);
    flows++;
  }
  // (from, to) -> canonical rule set
  const cells = [...pairs.entries()].map(([k, tuples]) => {
    const [from, to] = k.split('\u0000');
    const rules = rulesFor(tuples);
    return { from, to, rules, key: JSON.stringify(rules) };
  });
  // 1. merge sources sharing a destination and rules
  const byDst = new Map<string, { from: string[]; to: string; rules: RuleOut[]; key: string }>();
  for (const c of cells) {
    const k = `${c.to}\u0000${c.key}`;
    const g = byDst.get(k);
    if (g) g.from.push(c.from);
    else byDst.set(k, { from: [c.from], to: c.to, rules: c.rules, key: c.key });
  }
  // 2. merge destinations sharing the same source set and rules (still a full cross product)
  const groups = new Map<string, { from: string[]; to: string[]; rules: RuleOut[] }>();
  for (const g of byDst.values()) {
    g.from.sort();
    const k = `${g.from.join(',')}\u0000${g.key}`;
    const h = groups.get(k);
    if (h) h.to.push(g.to);
    else groups.set(k, { from: g.from, to: [g.to], rules: g.rules });
  }
  const taken = new Set<string>();
  const documents: Policy[] = [...groups.values()]
    .map((g) => ({ ...g, to: g.to.sort() }))
    .sort((a, b) => (a.from.join() + '>' + a.to.join() < b.from.join() + '>' + b.to.join() ? -1 : 1))
    .map((g) => ({
      apiVersion: API_VERSION,
      kind: 'Policy' as const,
      metadata: { name: policyName(opts.prefix ?? 'recommended', g.from, g.to, taken) },
      spec: { from: g.from, to: g.to.map(target), allow: g.rules as Policy['spec']['allow'], mode: 'enforce' as const },
    }));
  const yaml = documents.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
  return { documents, yaml, flows, skipped };
}
