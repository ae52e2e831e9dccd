// SPDX-License-Identifier: Apache-2.0
/**
 * Wall-clock time in an IANA timezone, from Intl (Node carries full ICU): the
 * offset at an instant, and the instant of a wall time. A wall time is given
 * as "UTC milliseconds of the same fields" (Date.UTC(y, m, d, h, min)).
 *
 * Daylight-saving transitions follow RFC 5545 and Temporal's "compatible"
 * disambiguation: a wall time that does not exist (the spring-forward gap)
 * moves forward by the gap's length (02:30 -> 03:30 in Europe/Berlin), a wall
 * time that exists twice (the fall-back overlap) is its earlier instant.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Null when tz is a timezone Intl knows (IANA names, UTC), else why not. */
export function timezoneError(tz: string): string | null {
  if (typeof tz !== 'string' || tz === '') return 'timezone is an IANA name such as Europe/Berlin or UTC';
  try {
    formatter(tz);
    return null;
  } catch {
    return `unknown timezone ${JSON.stringify(tz)}: use an IANA name such as Europe/Berlin, America/New_York or UTC`;
  }
}

/** The wall time (as UTC ms of its fields) at instant t in tz, to the second. */
export function wallAt(tz: string, t: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + (((t % 1000) + 1000) % 1000);
}

/** tz's offset from UTC at instant t, in ms (Europe/Berlin in winter: 3,600,000). */
export function offsetAt(tz: string, t: number): number {
  return wallAt(tz, t) - t;
}

const DAY = 86_400_000;

/** The instant of a wall time in tz (see the file's comment for gaps and overlaps). */
export function instantOf(tz: string, wall: number): number {
  const before = offsetAt(tz, wall - DAY);
  const after = offsetAt(tz, wall + DAY);
  const early = wall - before;
  const late = wall - after;
  const fits = (t: number) => offsetAt(tz, t) === wall - t;
  const a = fits(early);
  const b = fits(late);
  if (a && b) return Math.min(early, late); // overlap (or no transition): the earlier
  if (a) return early;
  if (b) return late;
  return early; // gap: the offset before the transition, i.e. shifted forward by the gap
}
