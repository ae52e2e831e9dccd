// SPDX-License-Identifier: Apache-2.0
/** `trace --to NAME` and PolicyTests naming a destination by DNS name. */
import { parseDocuments } from '../policy/parse';
import { compile } from './compile';
import { runPolicyTests, trace } from './trace';

const DOCS = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.10.1.0/24] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-cloud }
spec:
  from: [plugs]
  to: [ { fqdn: api.vendor.com }, { fqdn: "*.iot.vendor.com" } ]
  allow: [ { protocol: tcp, ports: ["443"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-bad }
spec:
  from: [plugs]
  to: [ { fqdn: bad.iot.vendor.com } ]
  deny: [ { protocol: any } ]
`;

const docs = parseDocuments(DOCS);
const bundle = compile(docs, { identities: {}, generation: 1 });
const q = (to: string, port = 443) => trace(bundle, docs, { from: 'plugs', to, protocol: 'tcp', port });

describe('trace to a DNS name', () => {
  it('an exact name is allowed by its fqdn rule, and says which pattern decided', () => {
    const r = q('API.vendor.com.');
    expect(r.verdict).toBe('allow');
    expect(r.policy).toBe('plugs-to-cloud');
    expect(r.name).toMatchObject({ name: 'api.vendor.com', pattern: 'api.vendor.com' });
    expect(q('api.vendor.com', 80).verdict).toBe('deny');
  });

  it('a wildcard matches names under the domain, not the domain itself; deny wins among matching patterns', () => {
    expect(q('cam.iot.vendor.com').name?.pattern).toBe('*.iot.vendor.com');
    expect(q('cam.iot.vendor.com').verdict).toBe('allow');
    const bad = q('bad.iot.vendor.com');
    expect(bad).toMatchObject({ verdict: 'deny', policy: 'no-bad' });
    expect(bad.name?.matched.sort()).toEqual(['*.iot.vendor.com', 'bad.iot.vendor.com']);
    const apex = q('iot.vendor.com');
    expect(apex).toMatchObject({ verdict: 'deny', policy: null });
    expect(apex.name?.note).toMatch(/no fqdn rule names it.*judged as world/);
  });

  it('refuses a bad name with the pattern error', () => {
    expect(() => q('foo..bar.com')).toThrow(/not an address, a device, a segment or a DNS name: .*empty label/);
    expect(() => q('*.vendor.com')).toThrow(/is a pattern; trace a name it matches/);
    expect(() => q('nosuch')).toThrow(/not an address, a device or a segment/);
  });

  it('a PolicyTest may name its destination by DNS name', () => {
    const t = parseDocuments(`apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: t }
spec:
  - { from: plugs, to: api.vendor.com, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: bad.iot.vendor.com, protocol: tcp, port: 443, expect: allow }
`);
    const r = runPolicyTests(bundle, [...docs, ...t]);
    expect(r.passed).toBe(1);
    expect(r.failures).toMatchObject([{ index: 1, expected: 'allow', got: 'deny', policy: 'no-bad' }]);
  });
});
