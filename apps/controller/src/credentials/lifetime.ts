// SPDX-License-Identifier: Apache-2.0
/** How long a device certificate lives: its own label, else the shortest of its segments' labels, else the default. */
import { Problem } from '../http/problem';
import { parseAddress, parseCidr, prefixContains } from '../policy/net';
import { selectorMatches } from '../policy/selectors';
import { parsePositiveDuration as parseDuration } from '../../../common/src/duration';
import { LIFETIME_LABEL } from './credentials.config';

type Doc = { name: string; labels: Record<string, string>; spec: unknown };

export function credentialLifetime(doc: Doc, segments: readonly Doc[], defaultMs: number): number {
  const own = doc.labels[LIFETIME_LABEL];
  if (own) {
    const ms = parseDuration(own);
    if (!ms) throw new Problem(400, 'Bad Request', `Device "${doc.name}": label ${LIFETIME_LABEL} must be a duration such as 7d, got "${own}"`);
    return ms;
  }
  const addrs = (((doc.spec as { addresses?: string[] })?.addresses ?? []) as string[]).map(parseAddress).filter((a) => a !== null);
  let best: number | null = null;
  for (const s of segments) {
    const text = s.labels?.[LIFETIME_LABEL];
    if (!text) continue;
    const spec = s.spec as { cidrs?: string[]; selector?: Record<string, string> };
    const member =
      selectorMatches(spec.selector ?? {}, doc.labels) ||
      (spec.cidrs ?? []).some((c) => {
        try {
          const p = parseCidr(c);
          return addrs.some((a) => prefixContains(p, a));
        } catch {
          return false;
        }
      });
    const ms = member ? parseDuration(text) : null;
    if (ms && (best === null || ms < best)) best = ms;
  }
  return best ?? defaultMs;
}
