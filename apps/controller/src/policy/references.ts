/**
 * Checks across documents, run over the full would-be set of stored documents
 * (what is stored, with the apply's documents replacing theirs by kind+name).
 * Errors refuse the apply; warnings are shown and let it through.
 */
import { hostPrefix, parseAddress, parseCidr, Prefix, prefixContains, prefixKey } from './net';
import type { Issue } from './parse';
import { BUILTIN_SEGMENTS, Device, Document, Policy, PolicyTest, Rule, Segment } from './schema';
import { protocolNumber } from './protocols';
import { fqdnNameError } from '../../../../model/generation/fqdn';
import { selectingSegments, selectorMatches } from './selectors';
import { LIMITS } from '../../../../native/lib/abi';

export interface ReferenceReport {
  errors: Issue[];
  warnings: Issue[];
}

/** A rule reduced to what it matches, to compare an allow with a deny. */
function ruleSignature(r: Rule): string {
  return JSON.stringify([
    protocolNumber(r.protocol),
    (r.ports ?? []).map(String).sort(),
    (r.types ?? []).map(String).sort(),
  ]);
}

export function checkReferences(docs: readonly Document[]): ReferenceReport {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  const issue = (d: Document, path: string, message: string): Issue => ({ kind: d.kind, name: d.metadata.name, path, message });

  const segments = docs.filter((d): d is Segment => d.kind === 'Segment');
  const devices = docs.filter((d): d is Device => d.kind === 'Device');
  const policies = docs.filter((d): d is Policy => d.kind === 'Policy');
  const tests = docs.filter((d): d is PolicyTest => d.kind === 'PolicyTest');
  const segmentNames = new Set<string>([...BUILTIN_SEGMENTS, ...segments.map((s) => s.metadata.name)]);
  const deviceNames = new Set(devices.map((d) => d.metadata.name));

  // Two segments claiming the same prefix: identity by longest prefix would be ambiguous.
  const prefixOwner = new Map<string, string>();
  const segPrefixes = new Map<Segment, Prefix[]>();
  for (const s of [...segments].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const list: Prefix[] = [];
    s.spec.cidrs.forEach((c, i) => {
      const p = parseCidr(c);
      list.push(p);
      const owner = prefixOwner.get(prefixKey(p));
      if (owner === undefined) prefixOwner.set(prefixKey(p), s.metadata.name);
      else if (owner === s.metadata.name) warnings.push(issue(s, `spec.cidrs[${i}]`, `${p.text} is listed twice`));
      else errors.push(issue(s, `spec.cidrs[${i}]`, `${p.text} is also claimed by segment ${owner}; a prefix belongs to one segment`));
    });
    segPrefixes.set(s, list);
  }

  // The site's resolvers (every spec.dns): the datapath steers DNS to at most LIMITS.RESOLVERS of them; more would be
  // dropped silently on the enforcer, and names answered by the rest never learned.
  const resolvers = new Map<string, Segment>();
  for (const s of segments) {
    (s.spec.dns ?? []).forEach((a, i) => {
      const key = parseAddress(a) ? hostPrefix(parseAddress(a)!).text : a;
      if (!resolvers.has(key) && resolvers.size === LIMITS.RESOLVERS) errors.push(issue(s, `spec.dns[${i}]`, `${a} would make more than ${LIMITS.RESOLVERS} distinct resolvers across the site's segments; the enforcer steers DNS to at most ${LIMITS.RESOLVERS}`));
      else resolvers.set(key, s);
    });
  }

  const selectingOf = selectingSegments(segments);
  // Device addresses: unique, and inside a segment that selects the device.
  const addressOwner = new Map<string, string>();
  for (const d of devices) {
    const selecting = selectingOf(d.metadata.labels);
    d.spec.addresses.forEach((a, i) => {
      const addr = parseAddress(a);
      if (!addr) return;
      const host = hostPrefix(addr).text;
      const owner = addressOwner.get(host);
      if (owner !== undefined && owner !== d.metadata.name) {
        errors.push(issue(d, `spec.addresses[${i}]`, `${a} is also an address of device ${owner}`));
      } else {
        addressOwner.set(host, d.metadata.name);
      }
      // Only segments that have CIDRs of this family constrain the address.
      const constraining = selecting.filter((s) => segPrefixes.get(s)!.some((p) => p.family === addr.family));
      if (constraining.length > 0 && !constraining.some((s) => segPrefixes.get(s)!.some((p) => prefixContains(p, addr)))) {
        errors.push(
          issue(d, `spec.addresses[${i}]`, `${a} is outside every segment that selects this device (${constraining.map((s) => s.metadata.name).join(', ')}); fix the address, the labels or the segment's cidrs`),
        );
      }
      if (selecting.length === 0 && !segments.some((s) => segPrefixes.get(s)!.some((p) => prefixContains(p, addr)))) {
        warnings.push(issue(d, `spec.addresses[${i}]`, `${a} is in no segment; the device counts as world`));
      }
    });
    if (selecting.length > 1) {
      warnings.push(issue(d, 'metadata.labels', `selected by several segments (${selecting.map((s) => s.metadata.name).join(', ')}); each address joins the one whose CIDR holds it`));
    }
  }

  for (const p of policies) {
    for (const field of ['from', 'to'] as const) {
      p.spec[field].forEach((n, i) => {
        if (typeof n === 'string' && !segmentNames.has(n)) errors.push(issue(p, `spec.${field}[${i}]`, `unknown segment ${n}`));
      });
    }
    const allow = (p.spec.allow ?? []).map(ruleSignature);
    const deny = (p.spec.deny ?? []).map(ruleSignature);
    if (allow.length > 0 && deny.length > 0) {
      const same = allow.length === deny.length && [...allow].sort().join('\n') === [...deny].sort().join('\n');
      if (same) {
        warnings.push(issue(p, 'spec', 'allow and deny are the same rules: the deny wins and the allow does nothing'));
      } else {
        allow.forEach((sig, i) => {
          const j = deny.indexOf(sig);
          if (j >= 0) warnings.push(issue(p, `spec.allow[${i}]`, `the same as deny[${j}]; the deny wins and this allow does nothing`));
        });
      }
    }
  }

  for (const t of tests) {
    t.spec.forEach((c, i) => {
      for (const field of ['from', 'to'] as const) {
        const v = c[field];
        // `{ fqdn }`: a DNS name, checked by the schema.
        if (typeof v !== 'string') continue;
        if (parseAddress(v)) continue;
        if (deviceNames.has(v)) continue;
        // A `to` with a dot is a DNS name (no device or segment name has one): judged by the fqdn patterns.
        if (field === 'to' && v.includes('.')) {
          const err = fqdnNameError(v);
          if (err) errors.push(issue(t, `spec[${i}].to`, `${v} is not a device, a segment, an address or a DNS name: ${err}`));
          continue;
        }
        if (v === 'host' || v === 'quarantine') {
          errors.push(issue(t, `spec[${i}].${field}`, `${v} has no address the controller knows; name an address instead`));
        } else if (!segmentNames.has(v)) {
          errors.push(issue(t, `spec[${i}].${field}`, `${v} is not a device, a segment or an address`));
        } else {
          const s = segments.find((x) => x.metadata.name === v);
          if (s && s.spec.cidrs.length === 0 && !devices.some((d) => selectorMatches(s.spec.selector, d.metadata.labels))) {
            errors.push(issue(t, `spec[${i}].${field}`, `segment ${v} has no CIDR and no device: no address to test with`));
          }
        }
      }
    });
  }

  return { errors, warnings };
}
