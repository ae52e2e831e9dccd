// SPDX-License-Identifier: Apache-2.0
/**
 * The name selectors of a document set: each distinct `{ fqdn }` pattern that a
 * policy's `to` names is an identity (`fqdn:PATTERN`, model/generation/fqdn.ts),
 * held for as long as some policy names it.
 */
import { FQDN_IDENTITY_PREFIX } from '../../../../model/generation/fqdn';
import { addressBytes, addressText } from '../../../../native/lib/encode';
import { targetRefs, type Policy, type Segment } from '../policy/schema';

/** The name selectors (identity names) that policies name. */
export function fqdnRefs(policies: Iterable<Policy>): string[] {
  const out = new Set<string>();
  for (const p of policies) for (const r of targetRefs(p.spec.to)) if (r.startsWith(FQDN_IDENTITY_PREFIX)) out.add(r);
  return [...out];
}

/** The name selectors an identity map holds. */
export function fqdnNames(ids: Readonly<Record<string, number>>): string[] {
  return Object.keys(ids).filter((n) => n.startsWith(FQDN_IDENTITY_PREFIX));
}

/**
 * Whether the policies after `polUp` (undefined: removed) name the same name
 * selectors as `ids` holds. `refs`: reference name -> policies naming it, as held
 * before the change; the cost is the number of references, not of policies.
 */
export function sameFqdnSet(ids: Readonly<Record<string, number>>, refs: ReadonlyMap<string, ReadonlySet<string>>, polUp: ReadonlyMap<string, Policy | undefined>): boolean {
  const next = new Set<string>();
  for (const [ref, policies] of refs) {
    if (!ref.startsWith(FQDN_IDENTITY_PREFIX)) continue;
    for (const pn of policies) {
      if (!polUp.has(pn)) {
        next.add(ref);
        break;
      }
    }
  }
  for (const d of polUp.values()) if (d) for (const r of fqdnRefs([d])) next.add(r);
  const now = fqdnNames(ids);
  return next.size === now.length && now.every((n) => next.has(n));
}

/**
 * The resolvers the bundle carries, each once in canonical form, sorted;
 * undefined when none: those the segments declare (spec.dns), and the site's
 * defaults (the controller's --dns-resolver) when a segment declares none,
 * since its devices use those. The enforcer takes one list for the site: it
 * learns from answers of these addresses only.
 */
export function segmentResolvers(segments: Iterable<Segment>, defaults: readonly string[] = []): string[] | undefined {
  const out = new Set<string>();
  let undeclared = false;
  for (const s of segments) {
    if (!s.spec.dns) undeclared = true;
    for (const a of s.spec.dns ?? []) out.add(canonicalAddress(a));
  }
  if (undeclared) for (const a of defaults) out.add(canonicalAddress(a));
  return out.size ? [...out].sort() : undefined;
}

/** An address as the bundle spells it (IPv4 dotted, IPv6 shortest, lower case). */
export function canonicalAddress(a: string): string {
  try {
    return addressText(addressBytes(a));
  } catch {
    return a; // the schema refuses these; never reached
  }
}
