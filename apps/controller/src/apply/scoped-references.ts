/**
 * Reference checks (policy/references.ts) over the documents a change can
 * affect, not the whole site: a site-scale check costs ~250 ms, most of it
 * re-checking 10,000 devices that nothing touched.
 *
 * What a change can newly break, and what is therefore checked with it:
 *   - every Segment (a prefix claimed twice; cheap: one per /24, not per device);
 *   - every PolicyTest (usually few; they name devices and segments);
 *   - the devices it changes, those sharing an address with them, and those a
 *     changed or removed segment selects or holds in its CIDRs (before or after);
 *   - the policies it changes, and those naming a removed segment.
 * The stored set passed these checks when it was stored, so nothing outside can
 * have turned wrong. Warnings are those about the documents the request names
 * and the devices the change affects (not every warning of the site on every
 * apply). A large change is checked whole, with the same warnings kept.
 */
import { checkReferences, type ReferenceReport } from '../policy/references';
import { parseCidr, prefixContains, type Prefix } from '../policy/net';
import { selectorMatches } from '../policy/selectors';
import { targetSegments, type Device, type Document, type Policy, type PolicyTestCase, type Segment } from '../policy/schema';
import { docKey, DocumentSet, type SiteState, DeviceAddresses } from './site-state';

export interface ScopedChange {
  /** Documents created or changed (normalized). */
  upsert: readonly Document[];
  remove: readonly { kind: string; name: string }[];
  /** Keys (kind/name) of every document the request named, changed or not: their warnings are shown. */
  named: ReadonlySet<string>;
}

/** Above this many changed documents the whole site is checked at once (a site load, not an edit). */
const WHOLE_SITE_ABOVE = 2000;

export function scopedReferenceCheck(st: SiteState, change: ScopedChange): ReferenceReport {
  const up = new DocumentSet(change.upsert);
  const removed = new Set(change.remove.map((r) => docKey(r.kind, r.name)));
  const after = <K extends Document['kind']>(kind: K): Extract<Document, { kind: K }>[] => {
    const out: Extract<Document, { kind: K }>[] = [];
    for (const d of st.docs.of(kind)) if (!up.get(kind, d.metadata.name) && !removed.has(docKey(kind, d.metadata.name))) out.push(d);
    for (const d of up.of(kind)) out.push(d);
    return out;
  };
  const afterDoc = (kind: string, name: string) => (removed.has(docKey(kind, name)) ? undefined : (up.get(kind, name) ?? st.docs.get(kind, name)));

  const segments = after('Segment');
  const tests = after('PolicyTest');
  const devices = new Set<string>();

  // Devices a changed or removed segment selects or holds, before or after the change.
  const touchedSegments: Segment[] = [];
  for (const s of up.of('Segment')) touchedSegments.push(s);
  for (const key of [...removed, ...[...up.of('Segment')].map((s) => docKey('Segment', s.metadata.name))]) {
    const [kind, name] = splitKey(key);
    if (kind !== 'Segment') continue;
    const old = st.docs.get('Segment', name) as Segment | undefined;
    if (old) touchedSegments.push(old);
  }
  // PolicyTests naming a segment with no CIDR need that segment's devices (a test needs an address).
  for (const t of tests) {
    for (const c of t.spec) {
      for (const n of caseNames(c)) {
        const s = afterDoc('Segment', n) as Segment | undefined;
        if (s && s.spec.cidrs.length === 0) touchedSegments.push(s);
      }
    }
  }
  const addresses = (st.addresses ??= new DeviceAddresses(st.docs.of('Device')));
  if (touchedSegments.length) {
    const prefixes: Prefix[] = touchedSegments.flatMap((s) => s.spec.cidrs.map((c) => parseCidr(c)));
    for (const d of st.docs.of('Device')) {
      if (touchedSegments.some((s) => selectorMatches(s.spec.selector, d.metadata.labels))) devices.add(d.metadata.name);
    }
    if (prefixes.length) {
      for (const [name, list] of addresses.entries()) {
        if (list.some(({ addr }) => prefixes.some((p) => prefixContains(p, addr)))) devices.add(name);
      }
    }
  }
  // Changed devices, and the devices already holding one of their addresses.
  for (const d of up.of('Device')) {
    devices.add(d.metadata.name);
    const own = new DeviceAddresses([d]);
    for (const [, list] of own.entries()) for (const { host } of list) for (const other of addresses.holdersOf(host)) devices.add(other);
  }

  let report: ReferenceReport;
  if (change.upsert.length + change.remove.length > WHOLE_SITE_ABOVE) {
    report = checkReferences([...segments, ...after('Device'), ...after('Policy'), ...tests, ...after('PostureRule')]);
  } else {
    const policies: Policy[] = [...up.of('Policy')];
    const gone = new Set([...removed].map(splitKey).filter(([k]) => k === 'Segment').map(([, n]) => n));
    if (gone.size) {
      for (const p of st.docs.of('Policy')) {
        if (up.get('Policy', p.metadata.name) || removed.has(docKey('Policy', p.metadata.name))) continue;
        if (p.spec.from.some((n) => gone.has(n)) || targetSegments(p.spec.to).some((n) => gone.has(n))) policies.push(p);
      }
    }
    // Devices PolicyTests name are checked for existence only: their warnings are not kept.
    const checked = new Set(devices);
    for (const t of tests) for (const c of t.spec) for (const n of caseNames(c)) if (afterDoc('Device', n)) checked.add(n);
    // Changed devices last, so that an address clash is reported on the device that brings it.
    const devs: Device[] = [];
    for (const n of checked) {
      const d = afterDoc('Device', n) as Device | undefined;
      if (d && !up.get('Device', n)) devs.push(d);
    }
    devs.push(...up.of('Device'));
    report = checkReferences([...segments, ...devs, ...policies, ...tests]);
  }
  const keep = (i: { kind?: string; name?: string }) => change.named.has(docKey(i.kind ?? '', i.name ?? '')) || (i.kind === 'Device' && devices.has(i.name ?? ''));
  return { errors: report.errors, warnings: report.warnings.filter(keep) };
}

function splitKey(k: string): [string, string] {
  const i = k.indexOf('/');
  return [k.slice(0, i), k.slice(i + 1)];
}

/** The documents a PolicyTest case may name: `from`, and `to` unless it is a `{ fqdn }` (a DNS name). */
function caseNames(c: PolicyTestCase): string[] {
  return typeof c.to === 'string' ? [c.from, c.to] : [c.from];
}
