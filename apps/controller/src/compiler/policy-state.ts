// SPDX-License-Identifier: Apache-2.0
/**
 * One Policy document compiled once, for every identity pair it covers: the
 * identities of its `from` and `to`, its rules with their ids and port/type
 * blocks (so a pair never re-parses a rule), and its warnings.
 */
import type { RuleInfo } from '../../../../model/generation/bundle';
import { targetRefs, type Policy } from '../policy/schema';
import { ruleKeys } from './keys';
import { CompiledRule, RANK_ALLOW, RANK_AUDIT_DENY, RANK_DENY } from './pair';
import type { PolicyRuleIds } from './rule-ids';

export interface PolicyState {
  doc: Policy;
  froms: number[];
  tos: number[];
  rules: CompiledRule[];
  infos: RuleInfo[];
  warnings: string[];
}

/** `blocks`: the keys of each rule by what it matches, shared across policies (sites repeat the same few rules thousands of times). */
export function compilePolicy(doc: Policy, ruleIds: PolicyRuleIds, identities: Readonly<Record<string, number>>, blocks: Map<string, readonly number[]>): PolicyState {
  const name = doc.metadata.name;
  const warnings: string[] = [];
  const idsOf = (names: readonly string[], field: string): number[] => {
    const out = new Set<number>();
    for (const n of names) {
      const id = identities[n];
      if (id === undefined) warnings.push(`policy ${name}: ${field} names unknown segment ${n}; ignored`);
      else out.add(id);
    }
    return [...out];
  };
  const froms = idsOf(doc.spec.from, 'from');
  const tos = idsOf(targetRefs(doc.spec.to), 'to');
  const rules: CompiledRule[] = [];
  const infos: RuleInfo[] = [];
  const mode = doc.spec.mode;
  for (const action of ['allow', 'deny'] as const) {
    (doc.spec[action] ?? []).forEach((rule, index) => {
      const ruleId = ruleIds[action][index];
      const scheduled = action === 'allow' && doc.spec.schedule !== undefined;
      const info: RuleInfo = { ruleId, policy: name, action, index, mode };
      if (scheduled) info.schedule = { timezone: doc.spec.schedule!.timezone, windows: [...doc.spec.schedule!.windows] };
      infos.push(info);
      const rank = action === 'allow' ? RANK_ALLOW : mode === 'audit' ? RANK_AUDIT_DENY : RANK_DENY;
      const sig = `${rule.protocol}|${rule.ports?.join(',') ?? ''}|${rule.types?.join(',') ?? ''}`;
      let keys = blocks.get(sig);
      if (!keys) blocks.set(sig, (keys = ruleKeys(rule)));
      const compiled: CompiledRule = { ruleId, rank, encrypt: action === 'allow' && rule.encryption === 'required', keys };
      if (scheduled) compiled.scheduled = true;
      rules.push(compiled);
    });
  }
  return { doc, froms, tos, rules, infos, warnings };
}
