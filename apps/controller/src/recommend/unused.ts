// SPDX-License-Identifier: Apache-2.0
/** Allow rules of the current bundle that no packet used over a window. */
import type { RuleInfo } from '../compiler/compile';
import type { RuleUse } from '../monitoring/observed-flows';
import type { Document } from '../policy/schema';

export interface UnusedRule {
  policy: string;
  index: number;
  rule: unknown;
  mode: string;
  lastUsed: string | null;
  packets: number;
}

export function unusedRules(rules: readonly RuleInfo[], uses: readonly RuleUse[], docs: readonly Document[], since: number): UnusedRule[] {
  const used = new Map(uses.map((u) => [`${u.policy}#${u.action}#${u.index}`, u]));
  const policies = new Map(docs.filter((d) => d.kind === 'Policy').map((d) => [d.metadata.name, d]));
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
    out.push({
      policy: r.policy,
      index: r.index,
      rule: p && p.kind === 'Policy' ? p.spec.allow?.[r.index] ?? null : null,
      mode: r.mode,
      lastUsed: u ? new Date(u.lastUsed).toISOString() : null,
      packets: u?.packets ?? 0,
    });
  }
  return out.sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : a.index - b.index));
}
