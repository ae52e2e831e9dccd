// SPDX-License-Identifier: Apache-2.0
import { LIGHTBULB_MUD } from '../../../../test/monitoring/fixtures';
import { compile } from '../compiler/compile';
import { BundleIndex } from '../compiler/trace';
import { parseDocuments } from '../policy/parse';
import { importMud, MudImportError } from './mud';

const clone = () => JSON.parse(JSON.stringify(LIGHTBULB_MUD));
function issuesOf(mud: unknown): string[] {
  try {
    importMud(mud);
  } catch (err) {
    if (err instanceof MudImportError) return err.issues.map((i) => `${i.where}: ${i.field}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a MudImportError');
}

describe('MUD import', () => {
  it('turns a valid MUD file into the expected Segment and Policy documents, which validate and compile', () => {
    const r = importMud(JSON.stringify(LIGHTBULB_MUD));
    expect(r.name).toBe('lightbulb2000');
    expect(r.documents.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Segment/lightbulb2000',
      'Segment/lightbulb2000-peer-1',
      'Segment/lightbulb2000-peer-2',
      'Policy/lightbulb2000-to-peer-1',
      'Policy/lightbulb2000-to-world',
      'Policy/lightbulb2000-from-peer-2',
    ]);
    const byName = Object.fromEntries(r.documents.map((d) => [d.metadata.name, d]));
    expect(byName['lightbulb2000'].spec).toMatchObject({ selector: { 'mud-type': 'lightbulb2000' } });
    expect(byName['lightbulb2000-peer-1'].spec).toMatchObject({ cidrs: ['198.51.100.0/24'] });
    expect(byName['lightbulb2000-peer-2'].spec).toMatchObject({ cidrs: ['192.0.2.0/28'] });
    expect(byName['lightbulb2000-to-peer-1'].spec).toMatchObject({ from: ['lightbulb2000'], to: ['lightbulb2000-peer-1'], allow: [{ protocol: 'tcp', ports: ['443'] }] });
    expect(byName['lightbulb2000-to-world'].spec).toMatchObject({ allow: [{ protocol: 'udp', ports: ['123-124'] }] });
    expect(byName['lightbulb2000-from-peer-2'].spec).toMatchObject({ from: ['lightbulb2000-peer-2'], to: ['lightbulb2000'], allow: [{ protocol: 'udp', ports: ['5683'] }] });
    // the reply ACE (direction-initiated from-device in the to-device ACL) needs no rule, and says so
    expect(r.notes.join('\n')).toContain('cl0-todev: reply traffic');

    const docs = parseDocuments(JSON.parse(JSON.stringify(r.documents)));
    const bulb = { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'bulb-1', labels: { 'mud-type': 'lightbulb2000' } }, spec: { addresses: ['10.1.1.5'] } };
    const all = [...docs, ...parseDocuments([bulb])];
    const idx = new BundleIndex(compile(all, { identities: {}, generation: 1 }), all);
    expect(idx.trace({ from: 'bulb-1', to: '198.51.100.7', protocol: 'tcp', port: 443 })).toMatchObject({ verdict: 'allow', policy: 'lightbulb2000-to-peer-1' });
    expect(idx.trace({ from: 'bulb-1', to: '198.51.100.7', protocol: 'tcp', port: 80 }).verdict).toBe('deny');
    expect(idx.trace({ from: '192.0.2.3', to: 'bulb-1', protocol: 'udp', port: 5683 }).verdict).toBe('allow');
    expect(idx.trace({ from: '192.0.2.30', to: 'bulb-1', protocol: 'udp', port: 5683 }).verdict).toBe('deny');
  });

  it('names the ACE and field of every unsupported or malformed part, and imports nothing', () => {
    const m = clone();
    const fr = m['ietf-access-control-list:acls'].acl[1].aces.ace;
    fr[0].matches.ipv4['ietf-acldns:dst-dnsname'] = 'cloud.example.com';
    fr[1].matches = { 'ietf-mud:mud': { 'same-manufacturer': [null] } };
    fr.push({ name: 'ctl', matches: { 'ietf-mud:mud': { controller: 'urn:ietf:params:mud:dns' } }, actions: { forwarding: 'accept' } });
    fr.push({ name: 'model', matches: { 'ietf-mud:mud': { model: 'https://x' } }, actions: { forwarding: 'accept' } });
    fr.push({ name: 'badport', matches: { ipv4: { protocol: 6 }, tcp: { 'destination-port': { operator: 'eq', port: 70000 } } }, actions: { forwarding: 'accept' } });
    fr.push({ name: 'noaction', matches: {}, actions: {} });
    fr.push({ name: 'srcport', matches: { ipv4: { protocol: 17 }, udp: { 'source-port': { operator: 'eq', port: 53 } } }, actions: { forwarding: 'accept' } });
    const issues = issuesOf(m);
    expect(issues).toEqual([
      expect.stringMatching(/^acl mud-76100-v4fr ace cl0-frdev: matches\.ipv4\.ietf-acldns:dst-dnsname: DNS names \("cloud\.example\.com"\) are not supported/),
      expect.stringMatching(/^acl mud-76100-v4fr ace ntp-frdev: matches\.ietf-mud:mud\.same-manufacturer: the same-manufacturer class/),
      expect.stringMatching(/^acl mud-76100-v4fr ace ctl: matches\.ietf-mud:mud\.controller: controller classes/),
      expect.stringMatching(/^acl mud-76100-v4fr ace model: matches\.ietf-mud:mud\.model: the model class/),
      expect.stringMatching(/^acl mud-76100-v4fr ace badport: matches\.tcp\.destination-port\.port: a port is 0-65535, got 70000/),
      expect.stringMatching(/^acl mud-76100-v4fr ace noaction: actions\.forwarding: expected accept, drop or reject/),
      expect.stringMatching(/^acl mud-76100-v4fr ace srcport: matches\.udp\.source-port: source-port matches/),
    ]);
  });

  it('refuses what is not a MUD file, or names ACLs it does not define', () => {
    expect(issuesOf('{oops')).toEqual([expect.stringMatching(/^mud: \(file\): not JSON/)]);
    expect(issuesOf({})).toEqual([expect.stringMatching(/ietf-mud:mud: missing/)]);
    const m = clone();
    m['ietf-mud:mud']['from-device-policy']['access-lists']['access-list'] = [{ name: 'nope' }];
    expect(issuesOf(m)).toEqual([expect.stringMatching(/from-device-policy: names ACL "nope", which the file does not define/)]);
    const e = clone();
    e['ietf-access-control-list:acls'].acl[0].type = 'eth-acl-type';
    expect(issuesOf(e)).toEqual([expect.stringMatching(/^acl mud-76100-v4to: type: eth-acl-type is not supported/)]);
  });
});
