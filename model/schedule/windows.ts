// SPDX-License-Identifier: Apache-2.0
/**
 * When a schedule is open, in instants (UTC ms): the open intervals over a
 * span, whether it is open at an instant, and when that next changes. The
 * same code answers on the controller (trace --at, get policies, PolicyTests)
 * and on the enforcer (its boundary timer), so both agree to the millisecond.
 */
import { instantOf, wallAt } from './zone';
import type { ParsedSchedule } from './parse';

const DAY = 86_400_000;
const MIN = 60_000;
/** How far nextChange looks ahead: beyond it a schedule "does not change". */
const HORIZON = 400 * DAY;

export interface Interval {
  start: number;
  end: number;
}

/** The open intervals meeting [from, to), merged (touching ones join), in order, unclipped. */
export function openIntervals(s: ParsedSchedule, from: number, to: number): Interval[] {
  const out: Interval[] = [];
  const weekly = s.windows.filter((w) => w.kind === 'weekly');
  if (weekly.length) {
    // Wall dates from the day before `from` to the day after `to`: offsets are under a day.
    const first = Math.floor(wallAt(s.timezone, from) / DAY) * DAY - DAY;
    const last = Math.floor(wallAt(s.timezone, to) / DAY) * DAY + DAY;
    for (let day = first; day <= last; day += DAY) {
      const dow = new Date(day).getUTCDay();
      for (const w of weekly) {
        if (w.kind !== 'weekly' || !w.days.includes(dow)) continue;
        const start = instantOf(s.timezone, day + w.start * MIN);
        const end = instantOf(s.timezone, day + w.end * MIN);
        if (end > start && end > from && start < to) out.push({ start, end });
      }
    }
  }
  for (const w of s.windows) {
    if (w.kind !== 'once') continue;
    const start = instantOf(s.timezone, w.start);
    const end = instantOf(s.timezone, w.end);
    if (end > start && end > from && start < to) out.push({ start, end });
  }
  out.sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: Interval[] = [];
  for (const iv of out) {
    const top = merged[merged.length - 1];
    if (top && iv.start <= top.end) top.end = Math.max(top.end, iv.end);
    else merged.push({ ...iv });
  }
  return merged;
}

export function isOpen(s: ParsedSchedule, t: number): boolean {
  return openIntervals(s, t, t + 1).some((iv) => iv.start <= t && t < iv.end);
}

/** The first instant after t at which the schedule opens or closes; null if none within 400 days. */
export function nextChange(s: ParsedSchedule, t: number): number | null {
  const open = isOpen(s, t);
  for (let from = t; from - t < HORIZON; ) {
    const to = Math.min(from + 8 * DAY, t + HORIZON);
    const ivs = openIntervals(s, from, to);
    if (open) {
      const cur = ivs.find((iv) => iv.start <= from && from < iv.end);
      if (!cur) return from; // it closed exactly at the chunk's edge
      if (cur.end < to) return cur.end;
    } else {
      const next = ivs.find((iv) => iv.start > t);
      if (next) return next.start;
    }
    from = to;
  }
  return null;
}
