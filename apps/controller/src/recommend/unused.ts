// SPDX-License-Identifier: Apache-2.0
/**
 * Allow rules of the current bundle that no packet used over a window. A rule
 * of a policy whose `to` names DNS names says which (`fqdn`): the datapath
 * judges a learned address by the same rule as a segment's, so such a rule is
 * used when a packet to an address learned for one of them was allowed by it,
 * and unused when none was (say, a vendor name no device resolves any more).
 */
import type { RuleInfo } from '../compiler/compile';
import type { RuleUse } from '../monitoring/observed-flows';
import type { Document, Policy } from '../policy/schema';

export interface UnusedRule {
  policy: string;
  index: number;
  rule: unknown;
  mode: string;
  lastUsed: string | null;
  packets: number;
  /** The DNS names and patterns the policy's `to` names (omitted when it names none). */
  fqdn?: string[];
}

export function unusedRules(rules: readonly RuleInfo[], uses: readonly RuleUse[], docs: readonly Document[], since: number): UnusedRule[] {
  const used = new Map(uses.map((u) => [`${u.policy}#${u.action}#${u.index}`, u]));
  const policies = new Map(docs.filter((d): d is Policy => d.kind === 'Policy').map((d) => [d.metadata.name, d]));
  const out: UnusedRule[] = [];
  const seen = new Set<string>();
  for (const r of rules) {
    if (r.action !== 'allow') continue;
    const k = `${r.policy}#allow#${r.index}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const u = used.get(k);
    if (u && u.lastUsed >= since) continue;
    const p = policies.get(r.policy);
    const fqdn = p ? fqdnTargets(p) : [];
    out.push({
      policy: r.policy,
      index: r.index,
      rule: p?.spec.allow?.[r.index] ?? null,
      mode: r.mode,
      lastUsed: u ? new Date(u.lastUsed).toISOString() : null,
      packets: u?.packets ?? 0,
      ...(fqdn.length ? { fqdn } : {}),
    });
  }
  return out.sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : a.index - b.index));
}

/** The `{ fqdn }` entries of a policy's `to`, as written (canonical). */
function fqdnTargets(p: Policy): string[] {
  return p.spec.to.flatMap((t) => (typeof t === 'string' ? [] : [t.fqdn]));
}
