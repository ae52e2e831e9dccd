import { parseDocuments } from './parse';
import { checkReferences } from './references';

const seg = (name: string, spec: object) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec });
const dev = (name: string, labels: Record<string, string>, addresses: string[]) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name, labels }, spec: { addresses } });
const pol = (name: string, spec: object) => ({ apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name }, spec });
const test = (name: string, spec: object[]) => ({ apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name }, spec });

const line = (i: { kind?: string; name?: string; path: string; message: string }) => `${i.kind}/${i.name} ${i.path}: ${i.message}`;

describe('checkReferences', () => {
  it('accepts a consistent set', () => {
    const docs = parseDocuments([
      seg('sensors', { cidrs: ['10.0.1.0/24'], selector: { type: 'sensor' } }),
      seg('broker', { cidrs: ['10.0.9.0/24'] }),
      dev('s1', { type: 'sensor' }, ['10.0.1.5']),
      pol('p', { from: ['sensors'], to: ['broker', 'world'], allow: [{ protocol: 'tcp', ports: [8883] }] }),
      test('t', [{ from: 's1', to: 'broker', protocol: 'tcp', port: 8883, expect: 'allow' }, { from: 'sensors', to: '8.8.8.8', protocol: 'udp', port: 53, expect: 'deny' }]),
    ]);
    expect(checkReferences(docs)).toEqual({ errors: [], warnings: [] });
  });

  it('refuses a site whose segments name more distinct resolvers than the datapath steers, naming the first one too many', () => {
    const docs = parseDocuments([
      seg('a', { cidrs: ['10.0.1.0/24'], dns: Array.from({ length: 10 }, (_, i) => `10.9.0.${i + 1}`) }),
      seg('b', { cidrs: ['10.0.2.0/24'], dns: ['10.9.0.1', ...Array.from({ length: 7 }, (_, i) => `10.9.1.${i + 1}`)] }),
    ]);
    expect(checkReferences(docs).errors.map(line)).toEqual(['Segment/b spec.dns[7]: 10.9.1.7 would make more than 16 distinct resolvers across the site\'s segments; the enforcer steers DNS to at most 16']);
    // the same resolver named by two segments counts once
    expect(checkReferences(parseDocuments([seg('a', { cidrs: ['10.0.1.0/24'], dns: ['10.9.0.1'] }), seg('b', { cidrs: ['10.0.2.0/24'], dns: ['10.9.0.1'] })])).errors).toEqual([]);
  });

  it('takes a PolicyTest destination named by DNS name, plain or as { fqdn }, and refuses a bad plain name with the pattern error', () => {
    const docs = parseDocuments([
      seg('plugs', { cidrs: ['10.0.1.0/24'] }),
      pol('p', { from: ['plugs'], to: [{ fqdn: 'api.vendor.com' }], allow: [{ protocol: 'tcp', ports: [443] }] }),
      test('t', [
        { from: 'plugs', to: 'api.vendor.com', protocol: 'tcp', port: 443, expect: 'allow' },
        { from: 'plugs', to: { fqdn: 'api.vendor.com' }, protocol: 'tcp', port: 443, expect: 'allow' },
        { from: 'plugs', to: 'nobody-resolved.example.org', protocol: 'tcp', port: 443, expect: 'deny' },
        { from: 'plugs', to: 'a..vendor.com', protocol: 'tcp', port: 443, expect: 'deny' },
      ]),
    ]);
    expect(checkReferences(docs).errors.map(line)).toEqual([
      'PolicyTest/t spec[3].to: a..vendor.com is not a device, a segment, an address or a DNS name: "a..vendor.com" has an empty label (two dots in a row, or a leading dot)',
    ]);
  });

  it('sees one prefix in its IPv4 and IPv4-mapped IPv6 spellings (one kernel key)', () => {
    const docs = parseDocuments([seg('a', { cidrs: ['10.0.0.0/24'] }), seg('b', { cidrs: ['::ffff:10.0.0.0/120'] })]);
    expect(checkReferences(docs).errors.map(line)).toEqual([
      'Segment/b spec.cidrs[0]: ::ffff:10.0.0.0/120 is also claimed by segment a; a prefix belongs to one segment',
    ]);
  });

  it('reports unknown segments, duplicate prefixes, strays and unknown test endpoints', () => {
    const docs = parseDocuments([
      seg('a', { cidrs: ['10.0.0.0/24'], selector: { type: 'cam' } }),
      seg('b', { cidrs: ['10.0.0.0/24', 'fd00::/64'] }),
      dev('cam1', { type: 'cam' }, ['10.9.9.9', 'fd00::9']),
      dev('cam2', { type: 'cam' }, ['10.0.0.9']),
      dev('cam3', { type: 'cam' }, ['10.0.0.9']),
      pol('p', { from: ['a', 'nope'], to: ['world'], allow: [{ protocol: 'any' }] }),
      test('t', [{ from: 'ghost', to: 'host', protocol: 'tcp', port: 1, expect: 'deny' }]),
    ]);
    const { errors } = checkReferences(docs);
    expect(errors.map(line)).toEqual([
      'Segment/b spec.cidrs[0]: 10.0.0.0/24 is also claimed by segment a; a prefix belongs to one segment',
      "Device/cam1 spec.addresses[0]: 10.9.9.9 is outside every segment that selects this device (a); fix the address, the labels or the segment's cidrs",
      'Device/cam3 spec.addresses[0]: 10.0.0.9 is also an address of device cam2',
      'Policy/p spec.from[1]: unknown segment nope',
      'PolicyTest/t spec[0].from: ghost is not a device, a segment or an address',
      'PolicyTest/t spec[0].to: host has no address the controller knows; name an address instead',
    ]);
  });

  it('warns about allow equal to deny, devices in no segment, and several selecting segments', () => {
    const docs = parseDocuments([
      seg('a', { selector: { x: '1' } }),
      seg('b', { selector: { x: '1' } }),
      dev('d', { x: '1' }, ['10.0.0.1']),
      dev('stray', {}, ['192.168.0.1']),
      pol('same', { from: ['a'], to: ['b'], allow: [{ protocol: 'tcp', ports: ['80', 443] }], deny: [{ protocol: 'tcp', ports: ['443', 80] }] }),
      pol('partly', { from: ['a'], to: ['b'], allow: [{ protocol: 'udp' }, { protocol: 'tcp' }], deny: [{ protocol: 'udp' }] }),
    ]);
    const { errors, warnings } = checkReferences(docs);
    expect(errors).toEqual([]);
    expect(warnings.map(line)).toEqual([
      'Device/d metadata.labels: selected by several segments (a, b); each address joins the one whose CIDR holds it',
      'Device/stray spec.addresses[0]: 192.168.0.1 is in no segment; the device counts as world',
      'Policy/same spec: allow and deny are the same rules: the deny wins and the allow does nothing',
      'Policy/partly spec.allow[0]: the same as deny[0]; the deny wins and this allow does nothing',
    ]);
  });
});
