/**
 * PolicyTests against a would-be bundle without indexing the whole bundle:
 * BundleIndex over a site-scale bundle (118,000 policy entries, 10,000
 * devices) costs ~300 ms, and a test touches a handful of identity pairs.
 *
 * So: an index of the bundle without policy entries and with only the
 * documents the tests name resolves each case's endpoints (which identities
 * the datapath would see); then the real run goes over the same bundle
 * holding only the policy entries of those identity pairs. The verdicts,
 * the deciding policies and the failures are those runPolicyTests gives on the
 * whole bundle and document set (policy-tests.spec.ts holds the two together).
 */
import type { Bundle } from '../compiler/compile';
import { BundleIndex, runPolicyTests, type PolicyTestFailure } from '../compiler/trace';
import type { Document, PolicyTest } from '../policy/schema';
import { fqdnIdentityName } from '../../../../model/generation/fqdn';

type Lookup = (kind: 'Device' | 'Segment', name: string) => Document | undefined;

export function runPolicyTestsScoped(bundle: Bundle, tests: readonly PolicyTest[], lookup: Lookup): { failures: PolicyTestFailure[]; passed: number } {
  if (tests.length === 0) return { failures: [], passed: 0 };
  const docs: Document[] = [...tests];
  const names = new Set<string>();
  // A `{ fqdn }` destination is a DNS name: no document to look up.
  for (const t of tests) {
    for (const c of t.spec) {
      names.add(c.from);
      if (typeof c.to === 'string') names.add(c.to);
    }
  }
  for (const n of names) {
    const dev = lookup('Device', n);
    if (dev) docs.push(dev);
    const seg = lookup('Segment', n);
    if (seg) docs.push(seg);
  }
  if (!sortedByPair(bundle.policy)) return runPolicyTests(bundle, docs);

  const probe = new BundleIndex({ ...bundle, policy: [] }, docs);
  const pairs: { src: number; dst: number }[] = [];
  const seen = new Set<string>();
  for (const t of tests) {
    for (const c of t.spec) {
      try {
        const r = probe.trace(c);
        // A DNS name is judged by the pairs of the patterns matching it, then as world.
        const dsts = [r.to.identity, ...(r.name?.matched ?? []).map((p) => bundle.identities[fqdnIdentityName(p)])];
        for (const dst of dsts) {
          const k = `${r.from.identity}/${dst}`;
          if (dst === undefined || seen.has(k)) continue;
          seen.add(k);
          pairs.push({ src: r.from.identity, dst });
        }
      } catch {
        // The real run below reports it, with the same error.
      }
    }
  }
  pairs.sort((a, b) => a.src - b.src || a.dst - b.dst);
  const policy = pairs.flatMap((p) => pairSlice(bundle.policy, p.src, p.dst));
  return runPolicyTests({ ...bundle, policy }, docs);
}

type Keyed = { srcIdentity: number; dstIdentity: number };
const cmp = (e: Keyed, src: number, dst: number) => e.srcIdentity - src || e.dstIdentity - dst;

/** The compiler emits entries ordered by (source, destination); checked, as the slices below rely on it (~1 ms). */
function sortedByPair(policy: readonly Keyed[]): boolean {
  for (let i = 1; i < policy.length; i++) if (cmp(policy[i - 1], policy[i].srcIdentity, policy[i].dstIdentity) > 0) return false;
  return true;
}

function lowerBound<T extends Keyed>(policy: readonly T[], src: number, dst: number): number {
  let lo = 0;
  let hi = policy.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(policy[mid], src, dst) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function pairSlice<T extends Keyed>(policy: readonly T[], src: number, dst: number): T[] {
  const start = lowerBound(policy, src, dst);
  let end = start;
  while (end < policy.length && policy[end].srcIdentity === src && policy[end].dstIdentity === dst) end++;
  return policy.slice(start, end);
}
