// SPDX-License-Identifier: Apache-2.0
/**
 * Which scheduled allows hold at an instant: the enforcer's own answer, from the
 * schedules the bundle carries (RuleInfo.schedule) and its own clock, so that
 * windows open and close on time with or without the controller.
 *
 * An entry with scheduleRules holds while any of those rules' schedules is
 * open (it then names an open one, for the rule counters); while all are
 * closed it is left out of the datapath, and the packet falls to what the
 * entry had hidden: a shorter allow that always holds, or default deny.
 * Denies are never scheduled (the compiler gives them no scheduleRules).
 */
import type { PolicyEntry } from '../../native/lib/abi';
import type { RuleInfo } from '../generation/bundle';
import { isOpen, nextChange } from './windows';
import { scheduleOf } from './state';

export interface GatedPolicy {
  policy: readonly PolicyEntry[];
  /** The scheduled rules open at the instant: equal strings, equal datapath content. */
  openKey: string;
  /** The next instant a schedule opens or closes (ms); null: none ahead. */
  next: number | null;
  /** Scheduled entries held / left out. */
  open: number;
  closed: number;
}

/**
 * The entries open at t. With `alsoAt` (an instant after t), a schedule counts
 * as open only if it is open at both: what closes then closes already, what
 * opens then does not open yet (the enforcer applies a closing early, never an opening).
 */
export function gatePolicy(policy: readonly PolicyEntry[], rules: readonly RuleInfo[] | undefined, t: number, alsoAt?: number): GatedPolicy {
  const schedules = new Map<number, boolean>();
  let next: number | null = null;
  const seen = new Map<string, boolean>();
  for (const r of rules ?? []) {
    if (!r.schedule) continue;
    const key = JSON.stringify([r.schedule.timezone, r.schedule.windows]);
    let open = seen.get(key);
    if (open === undefined) {
      const s = scheduleOf(r.schedule);
      open = isOpen(s, t) && (alsoAt === undefined || isOpen(s, alsoAt));
      seen.set(key, open);
      const n = nextChange(s, t);
      if (n !== null && (next === null || n < next)) next = n;
    }
    schedules.set(r.ruleId, open);
  }
  if (schedules.size === 0) return { policy, openKey: '', next: null, open: 0, closed: 0 };
  const out: PolicyEntry[] = [];
  let open = 0;
  let closed = 0;
  for (const e of policy) {
    if (!e.scheduleRules?.length) {
      out.push(e);
      continue;
    }
    // A rule the bundle does not describe counts as closed: fail closed.
    const openRule = schedules.get(e.ruleId) ? e.ruleId : e.scheduleRules.find((id) => schedules.get(id));
    if (openRule === undefined) {
      closed++;
      continue;
    }
    open++;
    out.push(openRule === e.ruleId ? e : { ...e, ruleId: openRule });
  }
  const openKey = [...schedules].filter(([, o]) => o).map(([id]) => id).join(',');
  return { policy: out, openKey, next, open, closed };
}
