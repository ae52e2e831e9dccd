// SPDX-License-Identifier: Apache-2.0
/**
 * Stable rule ids: a rule (policy, allow|deny, index) keeps the id it had in
 * the previous generation; new rules get, in (policy, action, index) order, the
 * lowest ids the previous generation did not hold. So per-rule counters keep
 * their meaning across generations, and a one-policy change does not renumber
 * every later policy.
 */
import type { RuleInfo } from '../../../../model/generation/bundle';
import type { Policy } from '../policy/schema';
import type { RuleTable } from './rule-table';

/** Rule ids of one policy, by action and index. */
export interface PolicyRuleIds {
  allow: number[];
  deny: number[];
}

const validRuleId = (id: unknown): id is number => Number.isInteger(id) && (id as number) >= 1 && (id as number) <= 0xffffffff;

/** The ids of a previous generation's rules by policy, and every id it held (the first entry of a key counts). */
export function previousRuleIds(rules: readonly RuleInfo[]): { ids: Map<string, PolicyRuleIds>; used: Set<number> } {
  const ids = new Map<string, PolicyRuleIds>();
  const used = new Set<number>();
  for (const r of rules) {
    used.add(r.ruleId);
    let p = ids.get(r.policy);
    if (!p) ids.set(r.policy, (p = { allow: [], deny: [] }));
    const list = r.action === 'deny' ? p.deny : p.allow;
    if (Number.isInteger(r.index) && r.index >= 0 && list[r.index] === undefined) list[r.index] = r.ruleId;
  }
  return { ids, used };
}

/**
 * Rule ids for the policies in `names` (sorted) being compiled from `changes`
 * (undefined: removed). Those not in `docChanged` only re-resolve segment names
 * and keep their ids (`held`). `prev`: the previous ids by policy; `used`: every
 * id the previous generation held (default: those in `rules`, which still
 * holds the previous generation's rules).
 */
export function assignRuleIds(
  names: readonly string[],
  changes: ReadonlyMap<string, Policy | undefined>,
  docChanged: ReadonlySet<string>,
  o: { held: ReadonlyMap<string, PolicyRuleIds>; prev: ReadonlyMap<string, PolicyRuleIds>; rules: RuleTable; used?: ReadonlySet<number> },
): Map<string, PolicyRuleIds> {
  const { rules, used } = o;
  const batch = new Set<number>();
  const taken = (id: number) => {
    if (batch.has(id)) return true;
    const r = rules.get(id);
    return r !== undefined && !docChanged.has(r.policy);
  };
  const wasUsed = used ? (id: number) => used.has(id) : (id: number) => rules.has(id);
  const newIds = new Map<string, PolicyRuleIds>();
  const fresh: { list: number[]; index: number }[] = [];
  for (const n of names) {
    const doc = changes.get(n);
    if (!doc) continue;
    if (!docChanged.has(n)) {
      // Same rules, only re-resolving segment names: same ids.
      newIds.set(n, o.held.get(n)!);
      continue;
    }
    const before = o.prev.get(n);
    const ids: PolicyRuleIds = { allow: [], deny: [] };
    newIds.set(n, ids);
    for (const action of ['allow', 'deny'] as const) {
      const count = doc.spec[action]?.length ?? 0;
      for (let index = 0; index < count; index++) {
        const id = before?.[action][index];
        if (validRuleId(id) && !taken(id)) {
          batch.add(id);
          ids[action][index] = id;
        } else {
          fresh.push({ list: ids[action], index });
        }
      }
    }
  }
  // Ids 1..max all held before (kept ones are among them): the first free one is above.
  let next = used ? 1 : rules.firstCandidate();
  for (const f of fresh) {
    while (wasUsed(next) || taken(next)) next++;
    batch.add(next);
    f.list[f.index] = next;
  }
  return newIds;
}
