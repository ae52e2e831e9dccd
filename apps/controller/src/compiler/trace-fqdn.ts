// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon trace --to NAME` and PolicyTests with a name for `to`: a destination
 * given as a DNS name is judged as an address the enforcer learned for that
 * name would be, with the bundle's name selectors (`fqdn:PATTERN` identities)
 * matched by the same function the enforcer uses (model/generation/fqdn.ts).
 * A learned address carries the identity of every pattern that matched; deny
 * wins among them, as for any packet. A name no selector matches is never
 * learned: its addresses are judged as world.
 */
import { VERDICT, type PolicyEntry } from '../../../../native/lib/abi';
import { canonicalFqdn, fqdnMatches, fqdnNameError, fqdnSelectors } from '../../../../model/generation/fqdn';
import type { Bundle } from '../../../../model/generation/bundle';

export interface TraceName {
  /** The name traced (canonical). */
  name: string;
  /** The pattern whose identity decided, or null when none decided (no pattern names it, or none has a rule for the packet). */
  pattern: string | null;
  /** Every pattern of the bundle that matches the name. */
  matched: string[];
  note: string;
}

/** Is `s` a DNS name to trace (not an address, device or segment)? Else why not, or null when it is. */
export function traceNameError(s: string): string | null {
  return fqdnNameError(s);
}

type Lookup = (dst: number) => PolicyEntry | undefined;

/** The deciding entry for a packet to `name`, with the patterns that gave it. */
export function judgeName(bundle: Bundle, name: string, lookup: Lookup, worldIdentity: number): { hit: PolicyEntry | undefined; info: TraceName } {
  const n = canonicalFqdn(name);
  const sels = fqdnSelectors(bundle.identities).filter((s) => fqdnMatches(s.pattern, n));
  const matched = sels.map((s) => s.pattern);
  if (sels.length === 0) {
    const none = fqdnSelectors(bundle.identities).length === 0 ? 'no policy names a DNS name' : 'no fqdn rule names it';
    return { hit: lookup(worldIdentity), info: { name: n, pattern: null, matched, note: `${none}: the enforcer learns nothing for ${n}, and its addresses are judged as world` } };
  }
  const hits = sels.map((s) => ({ s, e: lookup(s.identity) })).filter((x) => x.e !== undefined);
  const pick = hits.find((x) => x.e!.verdict === VERDICT.DENY) ?? hits.find((x) => x.e!.verdict === VERDICT.AUDIT) ?? hits[0];
  if (!pick) {
    // A learned address is still world by prefix: a world rule may decide it.
    return { hit: lookup(worldIdentity), info: { name: n, pattern: null, matched, note: `${matched.join(', ')} match ${n}, but no rule of theirs covers this packet; judged as world` } };
  }
  return {
    hit: pick.e,
    info: { name: n, pattern: pick.s.pattern, matched, note: `judged as an address learned for ${n} from a DNS answer the enforcer saw; before any answer, its addresses are world` },
  };
}
