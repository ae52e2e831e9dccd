// SPDX-License-Identifier: Apache-2.0
/**
 * A Policy's schedule as written (DESIGN.md "Context: when and where"):
 *   { timezone: Europe/Berlin, windows: ["Mon-Fri 07:00-19:00", "Sat 09:00-13:00",
 *     "2026-12-24T08:00/2026-12-24T12:00"] }
 * A weekly window is days (a day, a forward range Mon-Fri, or a list Mon,Wed,Sat-Sun)
 * and a time range HH:MM-HH:MM (end after start; 24:00 is the end of the day).
 * A one-off window is two wall times YYYY-MM-DDTHH:MM[:SS] joined by "/".
 * Both are wall-clock times in the timezone; overlapping windows are allowed
 * (their union counts). parseSchedule gives every error with the window it is about.
 */
import { timezoneError } from './zone';

export interface ScheduleSpec {
  timezone: string;
  windows: string[];
}

export interface WeeklyWindow {
  kind: 'weekly';
  /** 0 = Sunday … 6 = Saturday (Date.getUTCDay of the wall date). */
  days: number[];
  /** Minutes after local midnight; end may be 1440. */
  start: number;
  end: number;
}

export interface OnceWindow {
  kind: 'once';
  /** Wall times, as UTC ms of their fields. */
  start: number;
  end: number;
}

export type Window = WeeklyWindow | OnceWindow;

export interface ParsedSchedule {
  timezone: string;
  windows: Window[];
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** Monday-first position, for ranges (Mon-Sun is the whole week). */
const WEEK_ORDER = [1, 2, 3, 4, 5, 6, 0];

function dayNumber(s: string): number {
  return DAYS.indexOf(s.toLowerCase().slice(0, 3) === s.toLowerCase() ? s.toLowerCase() : '');
}

function parseDays(text: string): number[] | string {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^([A-Za-z]{3})(?:-([A-Za-z]{3}))?$/.exec(part);
    if (!m) return `bad day range "${part}": days are Mon Tue Wed Thu Fri Sat Sun, a range Mon-Fri, or a list Mon,Wed`;
    const a = dayNumber(m[1]);
    const b = m[2] === undefined ? a : dayNumber(m[2]);
    if (a < 0 || b < 0) return `bad day range "${part}": ${a < 0 ? m[1] : m[2]} is not a day (Mon Tue Wed Thu Fri Sat Sun)`;
    const ia = WEEK_ORDER.indexOf(a);
    const ib = WEEK_ORDER.indexOf(b);
    if (ib < ia) return `bad day range "${part}": ${m[1]} comes after ${m[2]} in the week (Mon … Sun); write ${m[1]}-Sun,${b === 1 ? 'Mon' : `Mon-${m[2]}`}`;
    for (let i = ia; i <= ib; i++) out.add(WEEK_ORDER[i]);
  }
  return [...out].sort((x, y) => x - y);
}

function parseClock(s: string, allow24: boolean): number | null {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59) return null;
  if (h === 24 && min === 0 && allow24) return 1440;
  if (h > 23) return null;
  return h * 60 + min;
}

function parseWall(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number);
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59) return null;
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  if (new Date(t).getUTCDate() !== d) return null; // 2026-02-30
  return t;
}

/** One window, or why it is not one. */
export function parseWindow(text: string): Window | string {
  if (typeof text !== 'string') return 'a window is a string such as "Mon-Fri 07:00-19:00" or "2026-12-24T08:00/2026-12-24T12:00"';
  const s = text.trim();
  if (s.includes('/')) {
    const [a, b, extra] = s.split('/');
    if (extra !== undefined) return `bad window "${s}": a one-off window is START/END`;
    const start = parseWall(a);
    const end = parseWall(b);
    if (start === null || end === null) return `bad window "${s}": ${start === null ? a : b} is not a date and time YYYY-MM-DDTHH:MM[:SS]`;
    if (end <= start) return `bad window "${s}": the end ${b} is not after the start ${a}`;
    return { kind: 'once', start, end };
  }
  const m = /^(\S+)\s+(\S+)-(\S+)$/.exec(s);
  if (!m) return `bad window "${s}": write DAYS HH:MM-HH:MM ("Mon-Fri 07:00-19:00") or START/END ("2026-12-24T08:00/2026-12-24T12:00")`;
  const days = parseDays(m[1]);
  if (typeof days === 'string') return days;
  const start = parseClock(m[2], false);
  const end = parseClock(m[3], true);
  if (start === null) return `bad window "${s}": ${m[2]} is not a time of day 00:00-23:59`;
  if (end === null) return `bad window "${s}": ${m[3]} is not a time of day 00:01-24:00`;
  if (end <= start) return `bad window "${s}": the end ${m[3]} is not after the start ${m[2]} (a window past midnight is two: "Mon 22:00-24:00", "Tue 00:00-06:00")`;
  return { kind: 'weekly', days, start, end };
}

/** The schedule, or its errors, each with the path of what it is about. */
export function parseSchedule(spec: ScheduleSpec): ParsedSchedule | { errors: { path: (string | number)[]; message: string }[] } {
  const errors: { path: (string | number)[]; message: string }[] = [];
  const tzErr = timezoneError(spec.timezone);
  if (tzErr) errors.push({ path: ['timezone'], message: tzErr });
  const windows: Window[] = [];
  if (!Array.isArray(spec.windows) || spec.windows.length === 0) errors.push({ path: ['windows'], message: 'a schedule needs at least one window' });
  else
    spec.windows.forEach((w, i) => {
      const r = parseWindow(w);
      if (typeof r === 'string') errors.push({ path: ['windows', i], message: r });
      else windows.push(r);
    });
  return errors.length ? { errors } : { timezone: spec.timezone, windows };
}

/** parseSchedule for a spec already validated; throws on a bad one. */
export function mustParseSchedule(spec: ScheduleSpec): ParsedSchedule {
  const r = parseSchedule(spec);
  if ('errors' in r) throw new Error(`bad schedule: ${r.errors.map((e) => e.message).join('; ')}`);
  return r;
}
