// SPDX-License-Identifier: Apache-2.0
/**
 * A trace at an instant (`cordon trace --at TIME`, now by default): the bundle
 * as the datapath holds it then. When the verdict differs from what the
 * policies allow with every schedule open, the result says which scheduled
 * policy would have decided and when its schedule next changes.
 */
import { bundleAt, trace, type TraceQuery, type TraceResult } from '../compiler/trace';
import type { Bundle } from '../../../../model/generation/bundle';
import type { Document } from '../policy/schema';
import { scheduleState, type ScheduleState } from '../../../../model/schedule/state';

export interface TraceAtResult extends TraceResult {
  /** The instant judged (ISO). */
  at: string;
  /** The deciding rule's schedule, when it has one: open then, and its next change. */
  schedule?: ScheduleState;
  /** Set when a scheduled policy would decide otherwise, but its schedule is closed at the instant. */
  closedSchedule?: { policy: string; verdict: TraceResult['verdict']; nextChange: string | null };
}

export function traceAt(bundle: Bundle, docs: readonly Document[], q: TraceQuery, at: number): TraceAtResult {
  const r: TraceAtResult = { ...trace(bundleAt(bundle, at), docs, q), at: new Date(at).toISOString() };
  if (r.rule?.schedule) r.schedule = scheduleState(r.rule.schedule, at);
  if (bundle.rules.some((x) => x.schedule)) {
    const open = trace(bundle, docs, q);
    if (open.rule?.schedule && (open.verdict !== r.verdict || open.ruleId !== r.ruleId) && !scheduleState(open.rule.schedule, at).open) {
      r.closedSchedule = { policy: open.policy!, verdict: open.verdict, nextChange: scheduleState(open.rule.schedule, at).nextChange };
    }
  }
  return r;
}

/** `at` of a request: an ISO date and time (with offset), a number of Unix ms, or omitted (now); else why not. */
export function parseAt(v: unknown, now = Date.now()): number | string {
  if (v === undefined || v === '' || v === null) return now;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    if (/(Z|[+-]\d{2}:?\d{2})$/i.test(v) && Number.isFinite(Date.parse(v))) return Date.parse(v);
  }
  return `at must be a date and time with its offset (2026-12-24T09:00:00+01:00, 2026-12-24T08:00Z) or Unix milliseconds, got ${JSON.stringify(v)}`;
}
