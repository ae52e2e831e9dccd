import { makeScaleDocs } from '../compiler/bench-compile';
import { compile } from '../compiler/compile';
import { runPolicyTests } from '../compiler/trace';
import type { Document, PolicyTest } from '../policy/schema';
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

  it('runs nothing without tests', () => {
    const bundle = compile(makeScaleDocs({ segments: 2, devices: 2, policies: 2 }), { identities: {}, generation: 1 });
    expect(runPolicyTestsScoped(bundle, [], () => undefined)).toEqual({ failures: [], passed: 0 });
  });
});
