/** "90s", "15m", "1h", "7d" → milliseconds; null when malformed. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(s.trim());
  if (!m) return null;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 'ms'];
  const v = Number(m[1]) * unit;
  return v > 0 ? v : null;
}
