// SPDX-License-Identifier: Apache-2.0
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIGHTBULB_MUD } from '../../../../test/monitoring/fixtures';
import { compile } from '../compiler/compile';
import { BundleIndex } from '../compiler/trace';
import { parseDocuments } from '../policy/parse';
import type { Document } from '../policy/schema';
import { importMud, MudImportError, type ImportOptions } from './mud';
import { modelId } from './mud-model';

const FIXTURES = path.join(__dirname, '../../../../test/mud/fixtures');
const fixture = (f: string) => fs.readFileSync(path.join(FIXTURES, f), 'utf8');
const clone = () => JSON.parse(JSON.stringify(LIGHTBULB_MUD));
function issuesOf(mud: unknown, opts: ImportOptions = {}): string[] {
  try {
    importMud(mud, opts);
  } catch (err) {
    if (err instanceof MudImportError) return err.issues.map((i) => `${i.where}: ${i.field}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a MudImportError');
}
const byName = (docs: Document[]) => Object.fromEntries(docs.map((d) => [`${d.kind}/${d.metadata.name}`, d as any]));
/** Every document an import makes goes through the real policy validator (fqdn entries included). */
function validate(docs: Document[]): Document[] {
  return parseDocuments(JSON.parse(JSON.stringify(docs)));
}

const HUB_MODEL = modelId('https://iot.plugco.example/devices/energy-hub-h200.json');
/** The site: its own segments, an imported device type of the same manufacturer (the model the file names), a hub segment labelled by manufacturer. */
const SITE_SEGMENTS: Array<{ name: string; labels: Record<string, string>; cidr?: string; selector?: Record<string, string> }> = [
  { name: 'lan', labels: {}, cidr: '10.20.0.0/24' },
  { name: 'lamp-hubs', labels: { 'mud-manufacturer': 'hub.lampco.example' }, cidr: '10.20.1.0/24' },
  { name: 'dns-servers', labels: { 'mud-controller': 'urn:ietf:params:mud:dns' }, cidr: '10.20.2.0/24' },
  { name: 'plug-controller', labels: {}, cidr: '10.20.3.0/24' },
  { name: 'energy-hub-h200', labels: { 'mud-type': 'energy-hub-h200', 'mud-manufacturer': 'iot.plugco.example', 'mud-model': HUB_MODEL }, selector: { 'mud-type': 'energy-hub-h200' } },
  { name: 'other-peer-1', labels: { 'mud-peer-of': 'other' }, cidr: '192.0.2.0/24' },
];
const SITE: ImportOptions = {
  segments: SITE_SEGMENTS,
  controllers: { 'my-controller': 'plug-controller' },
};

describe('MUD import: the RFC example', () => {
  it('turns a MUD file with networks into Segment and Policy documents, which validate and compile', () => {
    const r = importMud(JSON.stringify(LIGHTBULB_MUD));
    expect(r.name).toBe('lightbulb2000');
    expect(r.cacheValidityHours).toBe(48);
    expect(r.documents.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Segment/lightbulb2000',
      'Segment/lightbulb2000-peer-1',
      'Segment/lightbulb2000-peer-2',
      'Policy/lightbulb2000-to-peer-1',
      'Policy/lightbulb2000-to-world',
      'Policy/lightbulb2000-from-peer-2',
    ]);
    const d = byName(r.documents);
    expect(d['Segment/lightbulb2000'].spec).toMatchObject({ selector: { 'mud-type': 'lightbulb2000' } });
    expect(d['Segment/lightbulb2000-peer-1'].spec).toMatchObject({ cidrs: ['198.51.100.0/24'] });
    expect(d['Policy/lightbulb2000-to-peer-1'].spec).toMatchObject({ from: ['lightbulb2000'], to: ['lightbulb2000-peer-1'], allow: [{ protocol: 'tcp', ports: ['443'] }] });
    expect(d['Policy/lightbulb2000-to-world'].spec).toMatchObject({ allow: [{ protocol: 'udp', ports: ['123-124'] }] });
    expect(d['Policy/lightbulb2000-from-peer-2'].spec).toMatchObject({ from: ['lightbulb2000-peer-2'], to: ['lightbulb2000'], allow: [{ protocol: 'udp', ports: ['5683'] }] });
    expect(r.notes.join('\n')).toContain('cl0-todev: reply traffic');

    const docs = validate(r.documents);
    const bulb = { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'bulb-1', labels: { 'mud-type': 'lightbulb2000' } }, spec: { addresses: ['10.1.1.5'] } };
    const all = [...docs, ...parseDocuments([bulb])];
    const idx = new BundleIndex(compile(all, { identities: {}, generation: 1 }), all);
    expect(idx.trace({ from: 'bulb-1', to: '198.51.100.7', protocol: 'tcp', port: 443 })).toMatchObject({ verdict: 'allow', policy: 'lightbulb2000-to-peer-1' });
    expect(idx.trace({ from: 'bulb-1', to: '198.51.100.7', protocol: 'tcp', port: 80 }).verdict).toBe('deny');
    expect(idx.trace({ from: '192.0.2.3', to: 'bulb-1', protocol: 'udp', port: 5683 }).verdict).toBe('allow');
    expect(idx.trace({ from: '192.0.2.30', to: 'bulb-1', protocol: 'udp', port: 5683 }).verdict).toBe('deny');
  });

  it('names the file, ACE and field of every malformed or unmappable part, and imports nothing', () => {
    const m = clone();
    const fr = m['ietf-access-control-list:acls'].acl[1].aces.ace;
    fr[0].matches.tcp.flags = 'syn';
    fr.push({ name: 'badport', matches: { ipv4: { protocol: 6 }, tcp: { 'destination-port': { operator: 'eq', port: 70000 } } }, actions: { forwarding: 'accept' } });
    fr.push({ name: 'noaction', matches: {}, actions: {} });
    fr.push({ name: 'srcport', matches: { ipv4: { protocol: 17 }, udp: { 'source-port': { operator: 'eq', port: 53 } } }, actions: { forwarding: 'accept' } });
    fr.push({ name: 'own-name', matches: { ipv4: { protocol: 6, 'ietf-acldns:src-dnsname': 'me.example' } }, actions: { forwarding: 'accept' } });
    fr.push({ name: 'class', matches: { 'ietf-mud:mud': { 'best-friends': [null] } }, actions: { forwarding: 'accept' } });
    expect(issuesOf(m)).toEqual([
      'acl mud-76100-v4fr ace cl0-frdev: matches.tcp.flags: flags matches are not supported',
      'acl mud-76100-v4fr ace badport: matches.tcp.destination-port.port: a port is 0-65535, got 70000',
      'acl mud-76100-v4fr ace noaction: actions.forwarding: expected accept, drop or reject, got undefined',
      'acl mud-76100-v4fr ace own-name: matches.ipv4.ietf-acldns:src-dnsname: in a from-device ACL the device is the source; a DNS name for the device itself cannot be mapped',
      expect.stringMatching(/^acl mud-76100-v4fr ace class: matches\.ietf-mud:mud\.best-friends: best-friends is not a MUD abstraction/),
      'acl mud-76100-v4fr ace srcport: matches.udp.source-port: a source-port match is only mapped as the reply leg of an ACE in the other direction to port 53, and there is none',
    ]);
    expect(() => importMud(m, { file: 'bulb.json' })).toThrow('bulb.json: acl mud-76100-v4fr ace badport: matches.tcp.destination-port.port');
  });

  it('refuses what is not a MUD file, or names ACLs it does not define', () => {
    expect(issuesOf('{oops')).toEqual([expect.stringMatching(/^mud: \(file\): not JSON/)]);
    expect(issuesOf({})).toEqual([expect.stringMatching(/ietf-mud:mud: missing/)]);
    const none = clone();
    delete none['ietf-access-control-list:acls'];
    expect(issuesOf(none)).toEqual(['mud: ietf-access-control-list:acls or ietf-access-control-list:access-lists: missing: the ACLs the policies name']);
    const m = clone();
    m['ietf-mud:mud']['from-device-policy']['access-lists']['access-list'] = [{ name: 'nope' }];
    expect(issuesOf(m)).toEqual([expect.stringMatching(/from-device-policy: names ACL "nope", which the file does not define/)]);
    const e = clone();
    e['ietf-access-control-list:acls'].acl[0].type = 'eth-acl-type';
    expect(issuesOf(e)).toEqual([expect.stringMatching(/^acl mud-76100-v4to: type: eth-acl-type is not supported/)]);
    const cv = clone();
    cv['ietf-mud:mud']['cache-validity'] = 500;
    expect(issuesOf(cv)).toEqual(['mud: ietf-mud:mud.cache-validity: cache-validity is 1-168 hours, got 500']);
  });
});

describe('MUD import: files as the generators write them', () => {
  it('mudmaker (ietf-access-control-list:acls): DNS names become fqdn entries of to, every abstraction maps, replies need no rule', () => {
    const r = importMud(fixture('mudmaker-smartplug.json'), { ...SITE, file: 'mudmaker-smartplug.json' });
    expect(r.name).toBe('smartplug-p110');
    expect(r.signatureUrl).toBe('https://iot.plugco.example/devices/smartplug-p110.p7s');
    expect(r.deviceLabels).toEqual({ 'mud-type': 'smartplug-p110' });
    const d = byName(r.documents);
    expect(Object.keys(d)).toEqual([
      'Segment/smartplug-p110',
      'Policy/smartplug-p110-to-n-euw1-device-api-plugcloud-ex',
      'Policy/smartplug-p110-to-ota-plugcloud-example',
      'Policy/smartplug-p110-to-pool-ntp-org',
      'Policy/smartplug-p110-to-ctl-plug-controller',
      'Policy/smartplug-p110-to-ctl-dns-servers',
      'Policy/smartplug-p110-to-same-manufacturer',
      'Policy/smartplug-p110-to-mfr-hub-lampco-example',
      'Policy/smartplug-p110-to-model-energy-hub-h200',
      'Policy/smartplug-p110-from-local',
      'Policy/smartplug-p110-from-ctl-plug-controller',
      'Policy/smartplug-p110-from-same-manufacturer',
    ]);
    // the device type's Segment carries the manufacturer and model, which other files' abstractions name
    expect(d['Segment/smartplug-p110'].metadata.labels).toEqual({ 'mud-type': 'smartplug-p110', 'mud-manufacturer': 'iot.plugco.example', 'mud-model': modelId('https://iot.plugco.example/devices/smartplug-p110.json') });
    // DNS names: exactly the fqdn to-entry form, IPv4 and IPv6 ACEs of one name merged
    expect(d['Policy/smartplug-p110-to-n-euw1-device-api-plugcloud-ex'].spec).toEqual({
      from: ['smartplug-p110'],
      to: [{ fqdn: 'n-euw1-device-api.plugcloud.example' }],
      allow: [{ protocol: 'tcp', ports: ['443'] }],
      mode: 'enforce',
    });
    expect(d['Policy/smartplug-p110-to-pool-ntp-org'].spec).toMatchObject({ to: [{ fqdn: 'pool.ntp.org' }], allow: [{ protocol: 'udp', ports: ['123'] }] });
    // local-networks: the site's own segments (not another import's peer networks), opened towards the device
    expect(d['Policy/smartplug-p110-from-local'].spec).toMatchObject({
      from: ['dns-servers', 'energy-hub-h200', 'lamp-hubs', 'lan', 'plug-controller', 'smartplug-p110'],
      to: ['smartplug-p110'],
      allow: [{ protocol: 'tcp', ports: ['9999'] }],
    });
    // my-controller by --controller my-controller=SEGMENT, controller by a Segment's mud-controller label
    expect(d['Policy/smartplug-p110-to-ctl-plug-controller'].spec).toMatchObject({ to: ['plug-controller'], allow: [{ protocol: 'any' }] });
    expect(d['Policy/smartplug-p110-to-ctl-dns-servers'].spec).toMatchObject({ to: ['dns-servers'], allow: [{ protocol: 'udp', ports: ['53'] }] });
    // same-manufacturer: the device types labelled with the file's own authority (its own and the hub's)
    expect(d['Policy/smartplug-p110-to-same-manufacturer'].spec).toMatchObject({ to: ['energy-hub-h200', 'smartplug-p110'], allow: [{ protocol: 'udp', ports: ['20000-20010'] }] });
    expect(d['Policy/smartplug-p110-from-same-manufacturer'].spec).toMatchObject({ from: ['energy-hub-h200', 'smartplug-p110'], to: ['smartplug-p110'] });
    expect(d['Policy/smartplug-p110-to-mfr-hub-lampco-example'].spec).toMatchObject({ to: ['lamp-hubs'], allow: [{ protocol: 'tcp', ports: ['8883'] }] });
    expect(d['Policy/smartplug-p110-to-model-energy-hub-h200'].spec).toMatchObject({ to: ['energy-hub-h200'], allow: [{ protocol: 'udp', ports: ['49152-65535'] }] });
    // the to-device cloud ACEs (src-dnsname, initiated from-device) and the local reply leg make notes, not rules
    expect(r.notes.filter((n) => /covered by connection tracking/.test(n))).toHaveLength(3);

    const docs = validate(r.documents);
    const site = parseDocuments(
      SITE_SEGMENTS.map((g) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: g.name, labels: g.labels }, spec: g.cidr ? { cidrs: [g.cidr] } : { selector: g.selector } })),
    );
    const devs = parseDocuments([
      { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'plug-1', labels: r.deviceLabels }, spec: { addresses: ['10.9.0.11'] } },
      { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'plug-2', labels: r.deviceLabels }, spec: { addresses: ['10.9.0.12'] } },
      { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'hub-1', labels: { 'mud-type': 'energy-hub-h200' } }, spec: { addresses: ['10.9.0.20'] } },
    ]);
    const all = [...docs, ...site, ...devs];
    const idx = new BundleIndex(compile(all, { identities: {}, generation: 1 }), all);
    expect(idx.trace({ from: 'plug-1', to: 'plug-2', protocol: 'udp', port: 20005 })).toMatchObject({ verdict: 'allow', policy: expect.stringMatching(/^smartplug-p110-(to|from)-same-manufacturer$/) });
    expect(idx.trace({ from: 'plug-1', to: 'hub-1', protocol: 'udp', port: 50000 }).verdict).toBe('allow');
    expect(idx.trace({ from: 'plug-1', to: '10.20.1.9', protocol: 'tcp', port: 8883 })).toMatchObject({ verdict: 'allow', policy: 'smartplug-p110-to-mfr-hub-lampco-example' });
    expect(idx.trace({ from: 'plug-1', to: '10.20.1.9', protocol: 'tcp', port: 443 }).verdict).toBe('deny');
    expect(idx.trace({ from: '10.20.0.5', to: 'plug-1', protocol: 'tcp', port: 9999 })).toMatchObject({ verdict: 'allow', policy: 'smartplug-p110-from-local' });
    expect(idx.trace({ from: '203.0.113.5', to: 'plug-1', protocol: 'tcp', port: 9999 }).verdict).toBe('deny');
    expect(idx.trace({ from: '192.0.2.7', to: 'plug-1', protocol: 'tcp', port: 9999 }).verdict).toBe('deny');
    expect(idx.trace({ from: 'plug-1', to: '10.20.2.53', protocol: 'udp', port: 53 })).toMatchObject({ verdict: 'allow', policy: 'smartplug-p110-to-ctl-dns-servers' });
    expect(idx.trace({ from: 'plug-1', to: '10.20.3.1', protocol: 'tcp', port: 22 })).toMatchObject({ verdict: 'allow', policy: 'smartplug-p110-to-ctl-plug-controller' });
  });

  it('a network another segment of the site already claims is named, not claimed twice (a prefix belongs to one segment)', () => {
    const segments = [{ name: 'lightbulb2000-peer-1', labels: { 'mud-peer-of': 'lightbulb2000' }, cidrs: ['198.51.100.0/24'] }];
    const d = byName(importMud(fixture('osmud-doorsensor.json'), { segments }).documents);
    const claims = Object.values(d).filter((x: any) => x.kind === 'Segment' && x.spec.cidrs?.includes('198.51.100.0/24'));
    expect(claims).toEqual([]);
    expect(Object.values(d).some((x: any) => x.kind === 'Policy' && x.spec.to?.includes('lightbulb2000-peer-1'))).toBe(true);
  });

  it('NIST/osMUD style (ietf-access-control-list:access-lists): names, a network, a port range, ICMP, a protocol number, a drop', () => {
    const r = importMud(fixture('osmud-doorsensor.json'));
    expect(r.name).toBe('door-sensor-ds2');
    expect(r.cacheValidityHours).toBe(24);
    const d = byName(r.documents);
    expect(Object.keys(d)).toEqual([
      'Segment/door-sensor-ds2',
      'Segment/door-sensor-ds2-peer-1',
      'Segment/door-sensor-ds2-peer-2',
      'Policy/door-sensor-ds2-to-mqtt-doorco-cloud-example',
      'Policy/door-sensor-ds2-to-time-doorco-cloud-example',
      'Policy/door-sensor-ds2-to-peer-1',
      'Policy/door-sensor-ds2-to-world',
      'Policy/door-sensor-ds2-to-peer-2',
      'Policy/door-sensor-ds2-to-world-deny',
    ]);
    expect(d['Policy/door-sensor-ds2-to-mqtt-doorco-cloud-example'].spec).toMatchObject({ to: [{ fqdn: 'mqtt.doorco-cloud.example' }], allow: [{ protocol: 'tcp', ports: ['8883'] }] });
    expect(d['Policy/door-sensor-ds2-to-peer-1'].spec).toMatchObject({ to: ['door-sensor-ds2-peer-1'], allow: [{ protocol: 'udp', ports: ['5683-5684'] }] });
    expect(d['Policy/door-sensor-ds2-to-world'].spec).toMatchObject({ allow: [{ protocol: 'icmp', types: [8] }] });
    expect(d['Policy/door-sensor-ds2-to-peer-2'].spec).toMatchObject({ to: ['door-sensor-ds2-peer-2'], allow: [{ protocol: 47 }] });
    expect(d['Policy/door-sensor-ds2-to-world-deny'].spec).toMatchObject({ deny: [{ protocol: 'udp', ports: ['1900'] }] });
    // the to-device ACEs are all reply legs (source port of a from-device ACE, echo reply): notes, no to-device policy
    expect(r.notes.filter((n) => /covered by connection tracking/.test(n))).toHaveLength(3);
    expect(r.documents.some((x) => x.kind === 'Policy' && (x.spec as any).to.includes('door-sensor-ds2'))).toBe(false);
    const docs = validate(r.documents);
    const dev = parseDocuments([{ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'ds-1', labels: r.deviceLabels }, spec: { addresses: ['10.9.1.2'] } }]);
    const all = [...docs, ...dev];
    const idx = new BundleIndex(compile(all, { identities: {}, generation: 1 }), all);
    expect(idx.trace({ from: 'ds-1', to: '203.0.113.9', protocol: 47 })).toMatchObject({ verdict: 'allow', policy: 'door-sensor-ds2-to-peer-2' });
    expect(idx.trace({ from: 'ds-1', to: '203.0.113.20', protocol: 47 }).verdict).toBe('deny');
    expect(idx.trace({ from: 'ds-1', to: '192.0.2.1', protocol: 'udp', port: 1900 })).toMatchObject({ verdict: 'deny', policy: 'door-sensor-ds2-to-world-deny' });
  });

  it('MUDgee style: what cannot be mapped is named by file, ACL, ACE and field, and nothing is imported', () => {
    let err: MudImportError | undefined;
    try {
      importMud(fixture('mudgee-lamp.json'), { file: 'mudgee-lamp.json' });
    } catch (e) {
      err = e as MudImportError;
    }
    expect(err).toBeInstanceOf(MudImportError);
    expect(err!.message.split('\n').slice(1)).toEqual([
      '  mudgee-lamp.json: acl from-ipv4-lampl5 ace from-ipv4-lampl5-1: matches.ipv4.dscp: dscp matches are not supported (Cordon rules match protocol, peer and destination port)',
      '  mudgee-lamp.json: acl from-ethernet-lampl5: type: eth-acl-type is not supported (only ipv4-acl-type and ipv6-acl-type: Cordon policies are IP)',
      "  mudgee-lamp.json: acl to-ipv4-lampl5 ace to-ipv4-lampl5-1: matches.ipv4.ietf-acldns:src-dnsname: a DNS name (push.lampco-cloud.example) as the source of connections to the device cannot be mapped: Cordon learns a name's addresses from the answers the device resolves, so an fqdn is a destination only",
    ]);
  });

  it('an abstraction without a mapping is named, with the way to map it', () => {
    const plug = fixture('mudmaker-smartplug.json');
    const issues = issuesOf(plug, {});
    expect(issues).toContain("acl mud-53147-v4to ace loc0-todev: matches.ietf-mud:mud.local-networks: local-networks maps to the site's own segments, and the site has none yet: apply its Segments first");
    expect(issues).toContain(
      'acl mud-53147-v4fr ace myctl0-frdev: matches.ietf-mud:mud.my-controller: my-controller (the controller of https://iot.plugco.example/devices/smartplug-p110.json) has no segment: map it with --controller my-controller=SEGMENT, or label a Segment mud-controller: "my-controller"',
    );
    expect(issues).toContain('acl mud-53147-v4fr ace ent0-frdev: matches.ietf-mud:mud.controller: controller urn:ietf:params:mud:dns has no segment: map it with --controller urn:ietf:params:mud:dns=SEGMENT, or label a Segment mud-controller: "urn:ietf:params:mud:dns"');
    // --controller URI=SEGMENT wins over a label; the file's mud-url names my-controller too
    expect(issues).toContain('acl mud-53147-v4fr ace man0-frdev: matches.ietf-mud:mud.manufacturer: no device type of manufacturer hub.lampco.example is known: import one of its MUD files first, or label a Segment mud-manufacturer: "hub.lampco.example"');
    expect(issues).toContain(`acl mud-53147-v4fr ace mod0-frdev: matches.ietf-mud:mud.model: the model https://iot.plugco.example/devices/energy-hub-h200.json is not known: import its MUD file first, or label a Segment mud-model: "${HUB_MODEL}"`);
    const r = importMud(plug, { segments: SITE_SEGMENTS.filter((g) => g.name !== 'dns-servers'), controllers: { 'urn:ietf:params:mud:dns': 'resolvers', 'https://iot.plugco.example/devices/smartplug-p110.json': 'plug-ctl' } });
    const d = byName(r.documents);
    expect(d['Policy/smartplug-p110-to-ctl-resolvers'].spec.to).toEqual(['resolvers']);
    expect(d['Policy/smartplug-p110-to-ctl-plug-ctl'].spec.to).toEqual(['plug-ctl']);
  });
});
