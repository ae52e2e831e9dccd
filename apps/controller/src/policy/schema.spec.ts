import { DocumentValidationError, parseDocuments } from './parse';
import { Policy, Segment } from './schema';

const EXAMPLE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: sensors }
spec:
  cidrs: [10.10.1.0/24, "fd00:10:1::/64"]
  selector: { type: sensor }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: cam-07, labels: { type: camera, vendor: acme } }
spec:
  mac: "02:00:00:00:00:07"
  addresses: [10.10.2.7, "fd00:10:2::7"]
  firmware: "4.2.1"
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-to-broker }
spec:
  from: [sensors]
  to: [broker]
  allow:
    - { protocol: tcp, ports: ["8883"], encryption: required }
    - { protocol: udp, ports: ["5683-5684", 7000] }
    - { protocol: icmp, types: [echo-request, 0] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-camera-to-world }
spec:
  from: [cameras]
  to: [world]
  deny: [ { protocol: any } ]
  mode: audit
---
apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: cameras-stay-local }
spec:
  - { from: cam-07, to: 203.0.113.9, protocol: tcp, port: 443, expect: deny }
  - { from: sensors, to: broker, protocol: icmp, type: echo-request, expect: allow }
---
apiVersion: cordon/v1
kind: PostureRule
metadata: { name: camera-firmware }
spec:
  selector: { type: camera }
  require: { firmware: ">=4.2.0", lastSeenWithin: 10m, credential: valid }
  onFailure: quarantine
`;

function issuesOf(input: string | unknown[], file?: string) {
  try {
    parseDocuments(input, file);
  } catch (e) {
    expect(e).toBeInstanceOf(DocumentValidationError);
    return (e as DocumentValidationError).issues;
  }
  throw new Error('expected a DocumentValidationError');
}

const seg = (spec: unknown, name = 'sensors') => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec });
const pol = (spec: unknown, name = 'p') => ({ apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name }, spec });

describe('parseDocuments: acceptance', () => {
  it('accepts every example of DESIGN.md and applies defaults', () => {
    const docs = parseDocuments(EXAMPLE, 'site.yaml');
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Segment/sensors',
      'Device/cam-07',
      'Policy/sensors-to-broker',
      'Policy/no-camera-to-world',
      'PolicyTest/cameras-stay-local',
      'PostureRule/camera-firmware',
    ]);
    const s = docs[0] as Segment;
    expect(s.spec.mode).toBe('enforce');
    expect(s.spec.onAnomaly).toBe('alert');
    expect((docs[2] as Policy).spec.mode).toBe('enforce');
    expect((docs[3] as Policy).spec.mode).toBe('audit');
  });

  it('accepts JSON text, a JSON array and objects', () => {
    const obj = seg({ cidrs: ['10.0.0.0/8'] });
    expect(parseDocuments(JSON.stringify(obj))).toHaveLength(1);
    expect(parseDocuments(JSON.stringify([obj, seg({ cidrs: ['11.0.0.0/8'] }, 'b')]))).toHaveLength(2);
    expect(parseDocuments([obj])).toHaveLength(1);
  });

  it('accepts protocol numbers and port numbers', () => {
    const [p] = parseDocuments([pol({ from: ['a'], to: ['b'], allow: [{ protocol: 47 }, { protocol: 6, ports: [22, '80-90'] }] })]);
    expect(p.kind).toBe('Policy');
  });
});

describe('parseDocuments: rejection with precise paths', () => {
  it('names file, document, kind/name, path and reason for a reversed range', () => {
    const issues = issuesOf(
      [seg({ cidrs: ['10.0.0.0/8'] }), pol({ from: ['a'], to: ['b'], allow: [{ protocol: 'tcp' }, { protocol: 'tcp', ports: ['9000-80'] }] }, 'sensors-to-broker')],
      'site.yaml',
    );
    expect(issues).toEqual([
      expect.objectContaining({ file: 'site.yaml', document: 1, kind: 'Policy', name: 'sensors-to-broker', path: 'spec.allow[1].ports[0]', message: 'port range 9000-80 is reversed' }),
    ]);
    try {
      parseDocuments([pol({ from: ['a'], to: ['b'], allow: [{ protocol: 'tcp' }, { protocol: 'tcp', ports: ['9000-80'] }] }, 'sensors-to-broker')], 'site.yaml');
    } catch (e) {
      expect((e as Error).message).toContain('site.yaml: document 0 (Policy/sensors-to-broker): spec.allow[1].ports[0]: port range 9000-80 is reversed');
    }
  });

  it('checks label keys with the enforcer labels\' rules; values may be URIs; at most 64', () => {
    const dev = (labels: Record<string, string>) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'd', labels }, spec: { addresses: ['10.0.0.1'] } });
    expect(issuesOf([dev({ 'Example.com/type': 'x', '-bad': 'y' })]).map((i) => `${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(/^metadata\.labels: label key "Example\.com\/type": its prefix must be a DNS subdomain/),
      expect.stringMatching(/^metadata\.labels: label key "-bad": a key is 1 to 63/),
    ]);
    expect(() => parseDocuments([dev({ 'mud-controller': 'urn:ietf:params:mud:dns' })])).not.toThrow();
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(issuesOf([dev(many)]).map((i) => i.message)).toEqual(['at most 64 labels']);
  });

  it('reports every error of every document, not just the first', () => {
    const issues = issuesOf([
      seg({ cidrs: ['10.0.0.5/24', 'fd00::1/64', '300.0.0.0/8', '10.0.0.0/33'] }),
      pol({ from: ['a'], to: ['b'], allow: [{ protocol: 'udp', ports: [70000, 'x'] }], extra: 1 }),
      pol({ from: [], to: ['b'] }, 'q'),
    ]);
    const lines = issues.map((i) => `${i.document} ${i.path}: ${i.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        '0 spec.cidrs[0]: 10.0.0.5/24 has host bits set; the network is 10.0.0.0/24',
        '0 spec.cidrs[1]: fd00::1/64 has host bits set; the network is fd00::/64',
        expect.stringMatching(/^0 spec\.cidrs\[2\]: 300\.0\.0\.0\/8 is not a CIDR/),
        expect.stringMatching(/^0 spec\.cidrs\[3\]: 10\.0\.0\.0\/33 has a bad prefix length/),
        '1 spec.allow[0].ports[0]: port 70000 is out of range (0-65535)',
        '1 spec.allow[0].ports[1]: "x" is not a port or a range "a-b"',
        '1 spec: unknown field "extra"',
        '2 spec.from: name at least one segment',
      ]),
    );
  });

  it('rejects ports on icmp, types on tcp, unknown icmp type names and bad protocols', () => {
    const issues = issuesOf([
      pol({ from: ['a'], to: ['b'], allow: [{ protocol: 'icmp', ports: ['80'] }, { protocol: 'tcp', types: ['echo-request'] }, { protocol: 'icmpv6', types: ['neighbor-solicitation', 'bogus'] }, { protocol: 'tpc' }] }),
    ]);
    expect(issues.map((i) => i.path)).toEqual(['spec.allow[0].ports', 'spec.allow[1].types', 'spec.allow[2].types[1]', 'spec.allow[3].protocol']);
  });

  it('rejects a policy with neither allow nor deny, and encryption on a deny', () => {
    const issues = issuesOf([pol({ from: ['a'], to: ['b'] }), pol({ from: ['a'], to: ['b'], deny: [{ protocol: 'tcp', encryption: 'required' }] }, 'q')]);
    expect(issues.map((i) => `${i.document} ${i.path}: ${i.message}`)).toEqual([
      '0 spec: a policy needs at least one allow or deny rule',
      '1 spec.deny[0].encryption: encryption applies only to allow rules',
    ]);
  });

  it('rejects bad names, built-in segment names, unknown kinds and apiVersions', () => {
    const issues = issuesOf([
      seg({ cidrs: ['10.0.0.0/8'] }, 'Bad_Name'),
      seg({ cidrs: ['10.0.0.0/8'] }, 'world'),
      { apiVersion: 'cordon/v1', kind: 'Segmnet', metadata: { name: 'x' }, spec: {} },
      { ...seg({ cidrs: ['10.0.0.0/8'] }, 'ok'), apiVersion: 'v1' },
      'hello',
    ]);
    expect(issues.map((i) => `${i.document} ${i.path}`)).toEqual(['0 metadata.name', '1 metadata.name', '2 kind', '3 apiVersion', '4 ']);
    expect(issues[2].message).toContain('unknown kind "Segmnet"');
  });

  it('rejects duplicate kind+name in one input but allows the same name across kinds', () => {
    const issues = issuesOf([seg({ cidrs: ['10.0.0.0/8'] }, 'a'), seg({ cidrs: ['11.0.0.0/8'] }, 'a')]);
    expect(issues).toEqual([expect.objectContaining({ document: 1, path: 'metadata.name', message: expect.stringContaining('duplicate Segment a') })]);
    expect(parseDocuments([seg({ cidrs: ['10.0.0.0/8'] }, 'a'), pol({ from: ['a'], to: ['a'], allow: [{ protocol: 'any' }] }, 'a')])).toHaveLength(2);
  });

  it('validates devices, tests and posture rules', () => {
    const issues = issuesOf([
      { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'd' }, spec: { mac: 'zz', addresses: [] } },
      { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'e' }, spec: { addresses: ['10.0.0.300'] } },
      { apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name: 't' }, spec: [{ from: 'a', to: 'b', protocol: 'icmp', port: 80, expect: 'maybe' }] },
      { apiVersion: 'cordon/v1', kind: 'PostureRule', metadata: { name: 'r' }, spec: { selector: { type: 'cam' }, require: { firmware: 'new', lastSeenWithin: '10 minutes' } } },
    ]);
    expect(issues.map((i) => `${i.document} ${i.path}`)).toEqual([
      '0 spec.mac',
      '0 spec.addresses',
      '1 spec.addresses[0]',
      '2 spec[0].expect',
      '3 spec.require.firmware',
      '3 spec.require.lastSeenWithin',
    ]);
  });

  it('names the line of a YAML syntax error and of a bad field', () => {
    const yaml = 'apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: a }\nspec:\n  cidrs: [10.0.0.0/8\n';
    const issues = issuesOf(yaml, 'bad.yaml');
    expect(issues[0].message).toMatch(/YAML syntax error at line \d+/);
    const issues2 = issuesOf('apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: a }\nspec:\n  cidrs:\n    - 10.0.0.1/8\n', 'f.yaml');
    expect(issues2[0]).toMatchObject({ path: 'spec.cidrs[0]', line: 6, file: 'f.yaml' });
  });
});
