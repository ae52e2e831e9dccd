import { makeScaleDocs } from '../compiler/bench-compile';
import { compile } from '../compiler/compile';
import { runPolicyTests } from '../compiler/trace';
import type { Document, PolicyTest } from '../policy/schema';
import { parseDocuments } from '../policy/parse';
import { runPolicyTestsScoped } from './policy-tests';

describe('runPolicyTestsScoped', () => {
  it('gives the failures and passes runPolicyTests gives over the whole bundle and site', () => {
    const size = { segments: 30, devices: 90, policies: 60 };
    const docs: Document[] = makeScaleDocs(size);
    const cases: PolicyTest['spec'] = [];
    const expects = ['allow', 'deny', 'audit'] as const;
    let i = 0;
    for (const from of ['seg-0000', 'seg-0003', 'dev-00004', '10.0.7.12', 'seg-0029', 'world', 'nobody', 'fd00:0:1::5']) {
      for (const to of ['seg-0001', 'seg-0004', 'dev-00031', '10.0.2.10', '203.0.113.9', 'seg-0099']) {
        for (const [protocol, port] of [['tcp', 8883], ['tcp', 1550], ['udp', 53], ['tcp', 22]] as const) {
          cases.push({ from, to, protocol, port, expect: expects[i++ % 3] });
        }
        cases.push({ from, to, protocol: 'icmp', type: 'echo-request', expect: expects[i++ % 3] } as PolicyTest['spec'][number]);
      }
    }
    const test: PolicyTest = { apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name: 'mixed' }, spec: cases };
    const all = [...docs, test];
    const bundle = compile(all, { identities: {}, generation: 1 });
    const byName = new Map(all.map((d) => [`${d.kind}/${d.metadata.name}`, d]));
    const scoped = runPolicyTestsScoped(bundle, [test], (kind, name) => byName.get(`${kind}/${name}`));
    const full = runPolicyTests(bundle, all);
    expect(full.failures.length).toBeGreaterThan(10);
    expect(full.passed).toBeGreaterThan(10);
    expect(full.failures.some((f) => f.got === 'error')).toBe(true);
    expect(scoped).toEqual(full);
  });

  it('judges a destination named by DNS name (plain or { fqdn }) by the pairs of its patterns, as over the whole bundle', () => {
    const docs = parseDocuments(`apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.10.1.0/24] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-cloud }
spec: { from: [plugs], to: [ { fqdn: api.vendor.com }, { fqdn: "*.iot.vendor.com" } ], allow: [ { protocol: tcp, ports: ["443"] } ] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-bad }
spec: { from: [plugs], to: [ { fqdn: bad.iot.vendor.com } ], deny: [ { protocol: any } ] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-world-ntp }
spec: { from: [plugs], to: [world], allow: [ { protocol: udp, ports: ["123"] } ] }
---
apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: by-name }
spec:
  - { from: plugs, to: { fqdn: api.vendor.com }, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: cam.iot.vendor.com, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: { fqdn: bad.iot.vendor.com }, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: { fqdn: cam.iot.vendor.com }, protocol: udp, port: 123, expect: allow }
  - { from: plugs, to: { fqdn: elsewhere.example.org }, protocol: tcp, port: 443, expect: allow }
`);
    const bundle = compile(docs, { identities: {}, generation: 1 });
    const byName = new Map(docs.map((d) => [`${d.kind}/${d.metadata.name}`, d]));
    const tests = docs.filter((d): d is PolicyTest => d.kind === 'PolicyTest');
    const full = runPolicyTests(bundle, docs);
    expect(full.passed).toBe(3);
    expect(full.failures.map((f) => [f.index, f.got, f.policy])).toEqual([
      [2, 'deny', 'no-bad'],
      [4, 'deny', null],
    ]);
    expect(runPolicyTestsScoped(bundle, tests, (kind, name) => byName.get(`${kind}/${name}`))).toEqual(full);
  });

  it('runs nothing without tests', () => {
    const bundle = compile(makeScaleDocs({ segments: 2, devices: 2, policies: 2 }), { identities: {}, generation: 1 });
    expect(runPolicyTestsScoped(bundle, [], () => undefined)).toEqual({ failures: [], passed: 0 });
  });
});
