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
    expect(() => q('*.vendor.com')).toThrow(/is a pattern; name a DNS name it matches/);
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

  it('a PolicyTest may give that name as { fqdn: NAME }, judged exactly as the plain name', () => {
    const cases = (to: (n: string) => string) =>
      parseDocuments(`apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: t }
spec:
  - { from: plugs, to: ${to('API.vendor.com.')}, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: ${to('cam.iot.vendor.com')}, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: ${to('bad.iot.vendor.com')}, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: ${to('elsewhere.example.org')}, protocol: tcp, port: 443, expect: deny }
`);
    const asObject = cases((n) => `{ fqdn: ${n} }`);
    expect((asObject[0].spec as { to: unknown }[])[0].to).toEqual({ fqdn: 'api.vendor.com' });
    const plain = runPolicyTests(bundle, [...docs, ...cases((n) => n)]);
    const explicit = runPolicyTests(bundle, [...docs, ...asObject]);
    expect(explicit).toEqual(plain);
    expect(explicit.passed).toBe(3);
    expect(explicit.failures).toMatchObject([{ index: 2, to: 'bad.iot.vendor.com', expected: 'allow', got: 'deny', policy: 'no-bad' }]);
  });

  it('refuses a bad { fqdn } in a PolicyTest with the pattern error, naming the field', () => {
    const refusal = (to: string) => {
      try {
        parseDocuments(`apiVersion: cordon/v1\nkind: PolicyTest\nmetadata: { name: t }\nspec:\n  - { from: plugs, to: ${to}, protocol: tcp, port: 443, expect: allow }\n`);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error(`${to} was accepted`);
    };
    expect(refusal('{ fqdn: "a..vendor.com" }')).toMatch(/spec\[0\]\.to\.fqdn: "a\.\.vendor\.com" has an empty label/);
    expect(refusal('{ fqdn: "*foo.com" }')).toMatch(/spec\[0\]\.to\.fqdn: .*is a pattern/);
    expect(refusal('{ fqdn: "*.vendor.com" }')).toMatch(/spec\[0\]\.to\.fqdn: "\*\.vendor\.com" is a pattern; name a DNS name it matches, such as api\.vendor\.com/);
    expect(refusal(`{ fqdn: "a.${'x'.repeat(64)}.com" }`)).toMatch(/spec\[0\]\.to\.fqdn: .*64 characters long; a label has at most 63/);
    expect(refusal(`{ fqdn: "${Array.from({ length: 60 }, () => 'abcd').join('.')}" }`)).toMatch(/spec\[0\]\.to\.fqdn: .*a DNS name has at most 253/);
    expect(refusal('{ fqdn: 10.10.1.5 }')).toMatch(/spec\[0\]\.to\.fqdn: "10\.10\.1\.5" is an address, not a DNS name/);
    expect(refusal('{ fqdn: api.vendor.com, port: 1 }')).toMatch(/spec\[0\]\.to/);
  });
});
