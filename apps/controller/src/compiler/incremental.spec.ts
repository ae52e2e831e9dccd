/**
 * The incremental compiler against a fresh compile of the same documents, on
 * random edit sequences: same bundle (entries, order, rule ids, warnings and
 * hash), and a delta that leads from the previous bundle to exactly that one.
 */
import fc from 'fast-check';
import { Device, Document, Policy, Rule, Segment } from '../policy/schema';
import { Bundle, compile, RuleInfo } from './compile';
import type { BundleDelta } from '../../../../model/generation/bundle';
import { applyDelta, diffBundles } from '../../../../model/generation/delta';
import { bundleHash } from '../../../../model/generation/digest';
import { CompileChange, IncrementalCompiler } from './incremental';

const SEGS = ['s0', 's1', 's2', 's3', 's4'];
const DEVS = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'];
const POLS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
const CIDRS = ['10.0.0.0/24', '10.0.1.0/24', '10.0.0.0/16', '10.0.1.128/25', '::ffff:10.0.1.0/120', '10.0.2.5/32', 'fd00::/64', 'fd00:0:0:1::/64', 'fd00::/48'];
const ADDRS = ['10.0.0.5', '10.0.1.5', '10.0.1.200', '10.0.2.5', '10.0.9.9', '::ffff:10.0.0.5', 'fd00::5', 'fd00:0:0:1::5', '2001:db8::1'];

const segmentArb = (name: string): fc.Arbitrary<Segment> =>
  fc
    .record({
      cidrs: fc.subarray(CIDRS, { maxLength: 3 }),
      selector: fc.oneof(fc.constant({}), fc.record({ role: fc.constantFrom('a', 'b') }), fc.record({ role: fc.constantFrom('a', 'b'), site: fc.constant('x') })),
      audit: fc.boolean(),
    })
    .map(({ cidrs, selector, audit }) => ({
      apiVersion: 'cordon/v1',
      kind: 'Segment',
      metadata: { name },
      spec: { cidrs, selector, mode: audit ? 'audit' : 'enforce', onAnomaly: 'alert' },
    }));

const deviceArb = (name: string): fc.Arbitrary<Device> =>
  fc
    .record({
      addresses: fc.subarray(ADDRS, { minLength: 1, maxLength: 2 }),
      labels: fc.oneof(fc.constant(undefined), fc.record({ role: fc.constantFrom('a', 'b'), site: fc.constantFrom('x', 'y') })),
      mac: fc.option(fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:02'), { nil: undefined }),
    })
    .map(({ addresses, labels, mac }) => ({
      apiVersion: 'cordon/v1',
      kind: 'Device',
      metadata: labels ? { name, labels } : { name },
      spec: mac ? { addresses, mac } : { addresses },
    }));

const portArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 30 })).map(([a, l]) => `${a}-${a + l}`));
const ruleArb: fc.Arbitrary<Rule> = fc.oneof(
  fc.constant({ protocol: 'any' as const }),
  fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const) }),
  fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const), ports: fc.array(portArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ protocol: fc.constant('tcp' as const), ports: fc.constant(['8883'] as (string | number)[]), encryption: fc.constant('required' as const) }),
  fc.record({ protocol: fc.constant('icmp' as const), types: fc.array(fc.constantFrom('echo-request', 'echo-reply', 3), { minLength: 1, maxLength: 2 }) }),
);

const policyArb = (name: string): fc.Arbitrary<Policy> =>
  fc
    .record({
      from: fc.subarray([...SEGS, 'world', 'ghost'], { minLength: 1, maxLength: 3 }),
      to: fc.subarray<Policy['spec']['to'][number]>([...SEGS, 'world', 'host', { fqdn: 'api.example.com' }, { fqdn: '*.example.com' }, { fqdn: '*.iot.example.com' }], { minLength: 1, maxLength: 3 }),
      allow: fc.array(ruleArb, { maxLength: 3 }),
      deny: fc.array(ruleArb, { maxLength: 2 }),
      audit: fc.boolean(),
    })
    .map(({ from, to, allow, deny, audit }) => ({
      apiVersion: 'cordon/v1',
      kind: 'Policy',
      metadata: { name },
      spec: { from, to, ...(allow.length || !deny.length ? { allow: allow.length ? allow : [{ protocol: 'udp' as const }] } : {}), ...(deny.length ? { deny } : {}), mode: audit ? 'audit' : 'enforce' },
    }));

type Op =
  | { op: 'upsert'; doc: Document }
  | { op: 'remove'; kind: 'Segment' | 'Device' | 'Policy'; name: string }
  | { op: 'quarantine'; names: string[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...POLS).chain(policyArb).map((doc) => ({ op: 'upsert' as const, doc })) },
  { weight: 2, arbitrary: fc.constantFrom(...SEGS).chain(segmentArb).map((doc) => ({ op: 'upsert' as const, doc })) },
  { weight: 2, arbitrary: fc.constantFrom(...DEVS).chain(deviceArb).map((doc) => ({ op: 'upsert' as const, doc })) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom(...POLS).map((name) => ({ op: 'remove' as const, kind: 'Policy' as const, name })),
      fc.constantFrom(...SEGS).map((name) => ({ op: 'remove' as const, kind: 'Segment' as const, name })),
      fc.constantFrom(...DEVS).map((name) => ({ op: 'remove' as const, kind: 'Device' as const, name })),
    ),
  },
  { weight: 1, arbitrary: fc.subarray(DEVS, { maxLength: 3 }).map((names) => ({ op: 'quarantine' as const, names })) },
);

const initialArb = fc.tuple(
  fc.tuple(...SEGS.map(segmentArb)),
  fc.tuple(...DEVS.map(deviceArb)),
  fc.tuple(...POLS.map(policyArb)),
  fc.subarray(DEVS, { maxLength: 2 }),
);

const keyOf = (d: { kind: string; metadata?: { name: string }; name?: string }) => `${d.kind}/${d.metadata?.name ?? d.name}`;

/** The delta as sets, to compare two deltas whatever their order. */
function normal(d: BundleDelta) {
  const s = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
  return {
    ids: { upsert: d.identities.upsert, remove: [...d.identities.remove].sort() },
    ipcache: { upsert: s(d.ipcache.upsert), remove: [...d.ipcache.remove].sort() },
    policy: { upsert: s(d.policy.upsert), remove: s(d.policy.remove) },
    rules: { upsert: s(d.rules.upsert), remove: [...d.rules.remove].sort() },
  };
}

function check(prev: Bundle, step: { bundle: Bundle; delta: BundleDelta }, fresh: Bundle) {
  expect(step.bundle).toEqual(fresh);
  expect(bundleHash(step.bundle)).toBe(step.bundle.hash);
  expect(applyDelta(prev, step.delta)).toEqual(step.bundle);
  expect(normal(step.delta)).toEqual(normal(diffBundles(prev, fresh)));
}

describe('IncrementalCompiler', () => {
  it('gives the bundle a fresh compile gives, and a delta leading to it, on random edit sequences', () => {
    fc.assert(
      fc.property(initialArb, fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }), ([segs, devs, pols, q0], batches) => {
        const docs = new Map<string, Document>();
        for (const d of [...segs, ...devs, ...pols]) docs.set(keyOf(d), d);
        let quarantined = q0;
        const inc = new IncrementalCompiler([...docs.values()], { identities: {}, generation: 1, quarantined });
        expect(inc.bundle).toEqual(compile([...docs.values()], { identities: {}, generation: 1, quarantined }));
        let generation = 1;
        for (const batch of batches) {
          const change: Required<CompileChange> = { upsert: [], remove: [], quarantined };
          for (const o of batch) {
            if (o.op === 'upsert') {
              docs.set(keyOf(o.doc), o.doc);
              (change.upsert as Document[]).push(o.doc);
            } else if (o.op === 'remove') {
              docs.delete(keyOf(o));
              (change.remove as { kind: 'Segment' | 'Device' | 'Policy'; name: string }[]).push({ kind: o.kind, name: o.name });
              change.upsert = change.upsert.filter((d) => keyOf(d) !== keyOf(o));
            } else {
              quarantined = o.names;
              change.quarantined = quarantined;
            }
          }
          const prev = inc.bundle;
          const history = inc.identityHistory;
          generation++;
          const step = inc.update(change, generation);
          const fresh = compile([...docs.values()], { identities: history, generation, quarantined, rules: prev.rules });
          check(prev, step, fresh);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('keeps rule ids across changes: adding a policy before others renumbers nothing', () => {
    const pol = (name: string, ports: string[]): Policy => ({
      apiVersion: 'cordon/v1',
      kind: 'Policy',
      metadata: { name },
      spec: { from: ['a'], to: ['b'], allow: ports.map((p) => ({ protocol: 'tcp' as const, ports: [p] })), mode: 'enforce' },
    });
    const seg = (name: string, cidr: string): Segment => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs: [cidr], selector: {}, mode: 'enforce', onAnomaly: 'alert' } });
    const inc = new IncrementalCompiler([seg('a', '10.0.0.0/24'), seg('b', '10.0.1.0/24'), pol('m', ['1', '2']), pol('z', ['3'])], { identities: {}, generation: 1 });
    const ids = (rules: RuleInfo[]) => rules.map((r) => `${r.ruleId}:${r.policy}[${r.index}]`);
    expect(ids(inc.bundle.rules)).toEqual(['1:m[0]', '2:m[1]', '3:z[0]']);

    const added = inc.update({ upsert: [pol('a-first', ['4', '5'])] }, 2);
    expect(ids(added.bundle.rules)).toEqual(['1:m[0]', '2:m[1]', '3:z[0]', '4:a-first[0]', '5:a-first[1]']);
    expect(added.delta.policy.remove).toEqual([]);
    expect(added.delta.policy.upsert).toHaveLength(2);
    expect(added.delta.rules).toEqual({ upsert: [expect.objectContaining({ ruleId: 4 }), expect.objectContaining({ ruleId: 5 })], remove: [] });

    // Removed ids are not handed out in the same generation, only later.
    const shrunk = inc.update({ upsert: [pol('m', ['1'])], remove: [{ kind: 'Policy', name: 'z' }] }, 3);
    expect(shrunk.delta.rules.remove).toEqual([2, 3]);
    const grown = inc.update({ upsert: [pol('n', ['7', '8', '9'])] }, 4);
    expect(ids(grown.bundle.rules)).toEqual(['1:m[0]', '2:n[0]', '3:n[1]', '4:a-first[0]', '5:a-first[1]', '6:n[2]']);
    expect(grown.bundle).toEqual(compile(inc.documents(), { identities: inc.identityHistory, generation: 4, rules: shrunk.bundle.rules }));
  });

  it('falls back to a full build when a corrupt identity history moves a kept segment', () => {
    const seg = (name: string, cidr: string): Segment => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs: [cidr], selector: {}, mode: 'enforce', onAnomaly: 'alert' } });
    const history = { b: 300, c: 300 };
    const inc = new IncrementalCompiler([seg('c', '10.0.0.0/24')], { identities: history, generation: 1 });
    expect(inc.bundle.identities.c).toBe(300);
    const prev = inc.bundle;
    const step = inc.update({ upsert: [seg('b', '10.0.1.0/24')] }, 2);
    // b sorts first and takes 300 from the history; c moves.
    expect(step.bundle.identities).toMatchObject({ b: 300 });
    expect(step.bundle.identities.c).not.toBe(300);
    check(prev, step, compile(inc.documents(), { identities: { ...history, c: 300 }, generation: 2, rules: prev.rules }));
  });

  it('replaceDocuments works the change out by comparison', () => {
    const seg = (name: string, cidr: string): Segment => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs: [cidr], selector: {}, mode: 'enforce', onAnomaly: 'alert' } });
    const p: Policy = { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'p' }, spec: { from: ['a'], to: ['b'], allow: [{ protocol: 'any' }], mode: 'enforce' } };
    const inc = new IncrementalCompiler([seg('a', '10.0.0.0/24'), seg('b', '10.0.1.0/24'), p], { identities: {}, generation: 1 });
    const prev = inc.bundle;
    const step = inc.replaceDocuments([seg('a', '10.0.0.0/24'), seg('b', '10.0.2.0/24')], { generation: 2 });
    expect(step.delta.policy.remove).toHaveLength(1);
    expect(step.delta.ipcache).toEqual({ upsert: [{ cidr: '10.0.2.0/24', identity: 257 }], remove: ['10.0.1.0/24'] });
    expect(step.delta.rules.remove).toEqual([1]);
    check(prev, step, compile(inc.documents(), { identities: inc.identityHistory, generation: 2, rules: prev.rules }));
  });
});
