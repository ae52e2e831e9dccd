/**
 * Scheduled policies through compile and the gate (model/schedule/gate.ts), against a naive
 * reading of DESIGN.md: at an instant, an allow of a policy whose schedule is closed does not
 * exist; its denies always do. Random policies, each unscheduled, open or closed at the instant.
 */
import fc from 'fast-check';
import { parsePortSpec, protocolNumber } from '../policy/protocols';
import { Document, Policy, Rule, Segment } from '../policy/schema';
import { compile } from './compile';
import { BundleIndex } from './trace';
import { gatePolicy } from '../../../../model/schedule/gate';
import type { Bundle } from '../../../../model/generation/bundle';

const SEGS = ['a', 'b'];
const segment = (name: string, i: number): Segment => ({
  apiVersion: 'cordon/v1',
  kind: 'Segment',
  metadata: { name },
  spec: { cidrs: [`10.0.${i}.0/24`], selector: {}, mode: 'enforce', onAnomaly: 'alert' },
});
const AT = Date.UTC(2026, 11, 2, 10, 0); // a Wednesday, 10:00 UTC
const SCHEDULES = {
  open: { timezone: 'Europe/Berlin', windows: ['Mon-Fri 07:00-19:00'] },
  closed: { timezone: 'Europe/Berlin', windows: ['Sat-Sun 00:00-24:00', '2026-12-02T12:00/2026-12-02T13:00'] },
  alsoOpen: { timezone: 'UTC', windows: ['2026-12-02T09:00/2026-12-02T10:00:01'] },
};
type Sched = keyof typeof SCHEDULES | 'none';

const portArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 20 })).map(([a, l]) => `${a}-${a + l}`));
const ruleArb: fc.Arbitrary<Rule> = fc.oneof(
  fc.constant({ protocol: 'any' as const }),
  fc.record({ protocol: fc.constant('tcp' as const) }),
  fc.record({ protocol: fc.constant('tcp' as const), ports: fc.array(portArb, { minLength: 1, maxLength: 2 }) }),
);
const policyArb = fc.record({
  from: fc.subarray(SEGS, { minLength: 1 }),
  to: fc.subarray(SEGS, { minLength: 1 }),
  allow: fc.array(ruleArb, { maxLength: 2 }),
  deny: fc.array(ruleArb, { maxLength: 1 }),
  schedule: fc.constantFrom<Sched>('none', 'open', 'closed', 'alsoOpen'),
});

function matches(r: Rule, port: number): boolean {
  if (protocolNumber(r.protocol) === null) return true;
  if (!r.ports) return true;
  return r.ports.some((s) => {
    const [lo, hi] = parsePortSpec(s) as [number, number];
    return port >= lo && port <= hi;
  });
}

const gated = (b: Bundle, t: number): Bundle => ({ ...b, policy: [...gatePolicy(b.policy, b.rules, t).policy] });

describe('scheduled policies: compile + gate agree with the naive semantics', () => {
  it('on random policies and packets at an instant', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { minLength: 1, maxLength: 6 }), (ps) => {
        const docs: Document[] = SEGS.map((s, i) => segment(s, i));
        const policies: (Policy & { sched: Sched })[] = ps
          .filter((p) => p.allow.length + p.deny.length > 0)
          .map((p, i) => ({
            apiVersion: 'cordon/v1',
            kind: 'Policy',
            metadata: { name: `p${i}` },
            spec: {
              from: p.from,
              to: p.to,
              ...(p.allow.length ? { allow: p.allow } : {}),
              ...(p.deny.length ? { deny: p.deny } : {}),
              mode: 'enforce',
              ...(p.schedule !== 'none' ? { schedule: SCHEDULES[p.schedule] } : {}),
            },
            sched: p.schedule,
          }));
        docs.push(...policies.map(({ sched: _s, ...d }) => d as Policy));
        const bundle = compile(docs, { identities: {}, generation: 1 });
        const index = new BundleIndex(gated(bundle, AT), docs);
        for (const src of SEGS) {
          for (const dst of SEGS) {
            for (let port = 0; port <= 65; port += 1) {
              let rank = 0;
              for (const p of policies) {
                if (!p.spec.from.includes(src) || !p.spec.to.includes(dst)) continue;
                if (p.spec.deny?.some((r) => matches(r, port))) rank = 2;
                if (p.sched !== 'closed' && p.spec.allow?.some((r) => matches(r, port))) rank = Math.max(rank, 1);
              }
              const want = rank === 1 ? 'allow' : 'deny';
              const got = index.trace({ from: `10.0.${SEGS.indexOf(src)}.1`, to: `10.0.${SEGS.indexOf(dst)}.1`, protocol: 'tcp', port }).verdict;
              if (got !== want) throw new Error(`${src} -> ${dst} tcp/${port}: want ${want}, got ${got}\n${JSON.stringify(policies.map((p) => [p.sched, p.spec]))}`);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('an entry shared by a scheduled and an unscheduled allow always holds; two schedules on one key hold while either is open', () => {
    const docs: Document[] = [segment('a', 0), segment('b', 1)];
    const pol = (name: string, schedule?: (typeof SCHEDULES)[keyof typeof SCHEDULES]): Policy => ({
      apiVersion: 'cordon/v1',
      kind: 'Policy',
      metadata: { name },
      spec: { from: ['a'], to: ['b'], allow: [{ protocol: 'tcp', ports: [22] }], mode: 'enforce', ...(schedule ? { schedule } : {}) },
    });
    const shared = compile([...docs, pol('g1', SCHEDULES.closed), pol('plain')], { identities: {}, generation: 1 });
    expect(shared.policy).toHaveLength(1);
    expect(shared.policy[0].scheduleRules).toBeUndefined();
    expect(shared.rules.find((r) => r.policy === 'g1')?.schedule).toEqual(SCHEDULES.closed);

    const two = compile([...docs, pol('g1', SCHEDULES.closed), pol('g2', SCHEDULES.alsoOpen)], { identities: {}, generation: 1 });
    const ids = two.rules.map((r) => r.ruleId).sort();
    expect(two.policy[0].scheduleRules).toEqual(ids);
    expect(gatePolicy(two.policy, two.rules, AT).policy).toHaveLength(1);
    expect(gatePolicy(two.policy, two.rules, AT).policy[0].ruleId).toBe(two.rules.find((r) => r.policy === 'g2')!.ruleId);
    expect(gatePolicy(two.policy, two.rules, AT + 2000).policy).toHaveLength(0);
    expect(gatePolicy(two.policy, two.rules, AT).next).toBe(AT + 1000);
    // Ahead of a boundary: open only what is open at both instants (a closing early, an opening not).
    expect(gatePolicy(two.policy, two.rules, AT, AT + 1000).policy).toHaveLength(0);
    expect(gatePolicy(two.policy, two.rules, AT - 3_600_000 - 500, AT - 3_600_000).policy).toHaveLength(0);
  });
});
