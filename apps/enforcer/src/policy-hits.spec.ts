// SPDX-License-Identifier: Apache-2.0
/**
 * The per-policy hit counters' accounting (the kernel side is
 * test/metrics/conventions.e2e.test.ts): per rule id increments, a rule id
 * that passes to another policy, a policy that goes, an adopted datapath.
 */
import type { RuleInfo } from '../../../model/generation/bundle';
import { EnforcerMetrics } from './metrics';
import { PolicyHits } from './policy-hits';

const rule = (ruleId: number, policy: string): RuleInfo => ({ ruleId, policy, action: 'allow', index: 0, mode: 'enforce' });

describe('PolicyHits', () => {
  let kernel: Map<number, { packets: number; bytes: number }>;
  let rules: RuleInfo[];
  let m: EnforcerMetrics;
  const read = async (ids: readonly number[]) => new Map(ids.map((id) => [id, kernel.get(id) ?? { packets: 0, bytes: 0 }]));
  const series = async () => Object.fromEntries((await m.policyPackets.get()).values.map((v) => [String(v.labels.policy), v.value]));
  const set = (id: number, packets: number) => kernel.set(id, { packets, bytes: packets * 100 });

  beforeEach(() => {
    kernel = new Map();
    m = new EnforcerMetrics();
  });

  it('sums the rules of each policy, counts what moved, and follows a rule id to its next policy', async () => {
    rules = [rule(1, 'a'), rule(2, 'a'), rule(3, 'b')];
    const hits = new PolicyHits(read, () => rules, m, { adopted: false });
    set(1, 2);
    set(2, 3);
    await hits.poll();
    expect(await series()).toEqual({ a: 5, b: 0 });
    set(3, 4);
    await hits.poll();
    expect(await series()).toEqual({ a: 5, b: 4 });
    // policy b goes; its rule id 3 passes to c: c counts from where b's count stood
    rules = [rule(1, 'a'), rule(2, 'a'), rule(3, 'c')];
    set(3, 6);
    await hits.poll();
    expect(await series()).toEqual({ a: 5, c: 2 });
    expect((await m.policyBytes.get()).values.find((v) => v.labels.policy === 'c')?.value).toBe(200);
  });

  it('an adopted datapath: what the rules counted before this run is its previous run\'s', async () => {
    rules = [rule(1, 'a')];
    set(1, 50);
    const hits = new PolicyHits(read, () => rules, m, { adopted: true });
    await hits.poll();
    expect(await series()).toEqual({ a: 0 });
    set(1, 53);
    await hits.poll();
    expect(await series()).toEqual({ a: 3 });
  });

  it('an adopted datapath whose rule table comes later (no kept bundle): its first reading of the rules is still the baseline', async () => {
    rules = [];
    set(1, 50);
    const hits = new PolicyHits(read, () => rules, m, { adopted: true });
    await hits.poll();
    rules = [rule(1, 'a')];
    await hits.poll();
    expect(await series()).toEqual({ a: 0 });
    set(1, 52);
    await hits.poll();
    expect(await series()).toEqual({ a: 2 });
  });
});
