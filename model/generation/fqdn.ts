// SPDX-License-Identifier: Apache-2.0
/**
 * Name selectors: the `{ fqdn: NAME }` and `{ fqdn: "*.DOMAIN" }` entries of a
 * policy's `to`. Each distinct pattern is an identity of its own in a bundle,
 * named `fqdn:PATTERN` in Bundle.identities (so it keeps its number for as long
 * as a policy names it, like a segment, and the delta, the digest and the wire
 * carry it with no field of its own). The datapath gives a learned address the
 * identities of every pattern that matched a name of the answer that taught it
 * (DESIGN.md "Names: policy by DNS name").
 *
 * One module for the controller (validation, compilation) and the enforcer
 * (matching answers), so both read a pattern the same way.
 */

/** The prefix of a name selector's identity name; no segment name can contain ':'. */
export const FQDN_IDENTITY_PREFIX = 'fqdn:';
export const MAX_NAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;

const LABEL_RE = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/;

/** The canonical spelling of a pattern: lower case, no trailing dot. */
export function canonicalFqdn(pattern: string): string {
  const p = pattern.trim().toLowerCase();
  return p.endsWith('.') && p.length > 1 ? p.slice(0, -1) : p;
}

/** Why `pattern` is not a DNS name or `*.`-pattern, or null when it is one. */
export function fqdnPatternError(pattern: string): string | null {
  const p = canonicalFqdn(pattern);
  const shown = JSON.stringify(pattern.length > 80 ? pattern.slice(0, 77) + '...' : pattern);
  if (p.length === 0) return 'an fqdn is a DNS name such as api.example.com or a pattern such as *.example.com';
  if (p.length > MAX_NAME_LENGTH) return `${shown} is ${p.length} characters long; a DNS name has at most ${MAX_NAME_LENGTH}`;
  const labels = p.split('.');
  const wild = labels[0] === '*';
  if (wild && labels.length < 3) return `${shown} matches a top-level domain or everything; name a domain under it, such as *.example.com`;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (i === 0 && wild) continue;
    if (l.includes('*')) return `${shown}: "*" must be the whole first label, as in *.example.com`;
    if (l.length === 0) return `${shown} has an empty label (two dots in a row, or a leading dot)`;
    if (l.length > MAX_LABEL_LENGTH) return `${shown}: the label ${JSON.stringify(l.slice(0, 20) + '...')} is ${l.length} characters long; a label has at most ${MAX_LABEL_LENGTH}`;
    if (!LABEL_RE.test(l)) return `${shown}: the label ${JSON.stringify(l)} may hold only letters, digits, "-" and "_", and may not start or end with "-"`;
  }
  if (!wild && labels.length < 2) return `${shown} is a single label; name a fully qualified name such as ${p}.example.com`;
  return null;
}

/**
 * Why `name` is not one DNS name (a destination to judge: `cordon trace --to`,
 * a PolicyTest's `to`), or null when it is: a pattern stands for many names.
 */
export function fqdnNameError(name: string): string | null {
  if (name.trim().startsWith('*')) return `${JSON.stringify(name)} is a pattern; name a DNS name it matches, such as ${name.trim().replace(/^\*/, 'api')}`;
  return fqdnPatternError(name);
}

/** The identity name of a pattern (canonical). */
export function fqdnIdentityName(pattern: string): string {
  return FQDN_IDENTITY_PREFIX + canonicalFqdn(pattern);
}

/** The pattern of an identity name, or null when it names a segment. */
export function fqdnOfIdentityName(name: string): string | null {
  return name.startsWith(FQDN_IDENTITY_PREFIX) ? name.slice(FQDN_IDENTITY_PREFIX.length) : null;
}

/**
 * Does a (canonical) pattern match a name? A plain name matches itself; `*.d`
 * matches every name that ends in `.d` (one label or more before it), not `d`.
 */
export function fqdnMatches(pattern: string, name: string): boolean {
  const n = canonicalFqdn(name);
  if (pattern.startsWith('*.')) return n.length > pattern.length - 1 && n.endsWith(pattern.slice(1));
  return n === pattern;
}

export interface FqdnSelector {
  pattern: string;
  identity: number;
}

/** The name selectors of a bundle's identities, by pattern. */
export function fqdnSelectors(identities: Readonly<Record<string, number>>): FqdnSelector[] {
  const out: FqdnSelector[] = [];
  for (const [name, identity] of Object.entries(identities)) {
    const pattern = fqdnOfIdentityName(name);
    if (pattern !== null) out.push({ pattern, identity });
  }
  return out.sort((a, b) => (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
}
