// SPDX-License-Identifier: Apache-2.0
/**
 * Durations as every flag, config field and document writes them: a whole
 * number and a unit, `500ms`, `30s`, `10m`, `2h`, `7d`, `2w`. The one parser
 * of them; callers state their own bounds.
 */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** What a duration looks like (for schemas that check text before it is parsed). */
export const DURATION_PATTERN = /^\d+(ms|s|m|h|d|w)$/;

/**
 * Milliseconds of a duration, or null when the text is not one. `0s` is 0;
 * with bareUnit, a bare number is taken in that unit (`30` as `30s`).
 */
export function parseDuration(text: string, opts: { bareUnit?: keyof typeof UNIT_MS } = {}): number | null {
  const m = /^(\d+)(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!m) return null;
  const unit = m[2] ?? opts.bareUnit;
  return unit ? Number(m[1]) * UNIT_MS[unit as keyof typeof UNIT_MS] : null;
}

/** parseDuration() for lifetimes and windows: null also for a zero duration. */
export function parsePositiveDuration(text: string): number | null {
  const ms = parseDuration(text);
  return ms !== null && ms > 0 ? ms : null;
}

/** parseDuration() that throws, naming the text, when it is not a duration. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new Error(`bad duration "${text}" (use 30s, 10m, 1h, 7d)`);
  return ms;
}
