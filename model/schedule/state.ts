// SPDX-License-Identifier: Apache-2.0
/**
 * A schedule's state at an instant, as `cordon get policies` shows it and as
 * the enforcer's timer uses it: open or closed, and when that next changes.
 */
import { mustParseSchedule, type ParsedSchedule, type ScheduleSpec } from './parse';
import { isOpen, nextChange } from './windows';

export interface ScheduleState {
  open: boolean;
  /** ISO instant of the next opening or closing; null: none within 400 days. */
  nextChange: string | null;
}

const parsed = new Map<string, ParsedSchedule>();

/** Parsed once per distinct spec (the enforcer asks for the same few schedules at every boundary). */
export function scheduleOf(spec: ScheduleSpec): ParsedSchedule {
  const key = JSON.stringify([spec.timezone, spec.windows]);
  let p = parsed.get(key);
  if (!p) {
    if (parsed.size > 4096) parsed.clear();
    parsed.set(key, (p = mustParseSchedule(spec)));
  }
  return p;
}

export function scheduleState(spec: ScheduleSpec, t: number): ScheduleState {
  const s = scheduleOf(spec);
  const next = nextChange(s, t);
  return { open: isOpen(s, t), nextChange: next === null ? null : new Date(next).toISOString() };
}
