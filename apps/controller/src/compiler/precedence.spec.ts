/**
 * compile + trace against a naive reading of DESIGN.md's semantics, on random
 * policies: every rule whose policy covers the pair and which matches the
 * packet is collected, then enforce-deny > audit-deny > allow > default deny,
 * and a deny touching an audit-mode segment is audit.
 */
import fc from 'fast-check';
import { parsePortSpec, protocolNumber, icmpType } from '../policy/protocols';
import { Document, Policy, Rule, Segment } from '../policy/schema';
import { compile } from './compile';
import { BundleIndex } from './trace';

const SEGS = ['a', 'b', 'c'];
const segment = (name: string, i: number, audit: boolean): Segment => ({
  apiVersion: 'cordon/v1',
  kind: 'Segment',
  metadata: { name },
  spec: { cidrs: [`10.0.${i}.0/24`], selector: {}, mode: audit ? 'audit' : 'enforce', onAnomaly: 'alert' },
});

const portArb = fc.oneof(
  fc.integer({ min: 0, max: 70 }),
  fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 40 })).map(([a, l]) => `${a}-${a + l}`),
);
const ruleArb: fc.Arbitrary<Rule> = fc.oneof(
  fc.constant({ protocol: 'any' as const }),
  fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const) }),
  fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const), ports: fc.array(portArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ protocol: fc.constant('icmp' as const), types: fc.array(fc.constantFrom('echo-request', 'echo-reply', 3, 11), { minLength: 1, maxLength: 2 }) }),
);
const policyArb = fc.record({
  from: fc.subarray(SEGS, { minLength: 1 }),
  to: fc.subarray([...SEGS, 'world'], { minLength: 1 }),
  allow: fc.array(ruleArb, { maxLength: 3 }),
  deny: fc.array(ruleArb, { maxLength: 2 }),
  audit: fc.boolean(),
});

function ruleMatches(r: Rule, proto: number, port: number): boolean {
  const p = protocolNumber(r.protocol);
  if (p === null) return true;
  if (p !== proto) return false;
  if (r.ports) return r.ports.some((s) => {
    const [lo, hi] = parsePortSpec(s) as [number, number];
    return port >= lo && port <= hi;
  });
  if (r.types) return r.types.some((t) => icmpType(p, t) === port >> 8);
  return true;
}

describe('compile + trace agree with the naive semantics', () => {
  it('on random policies and packets', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { minLength: 1, maxLength: 6 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), (ps, audits) => {
        const docs: Document[] = SEGS.map((s, i) => segment(s, i, audits[i]));
        const policies: Policy[] = ps
          .filter((p) => p.allow.length + p.deny.length > 0)
          .map((p, i) => ({
            apiVersion: 'cordon/v1',
            kind: 'Policy',
            metadata: { name: `p${i}` },
            spec: { from: p.from, to: p.to, ...(p.allow.length ? { allow: p.allow } : {}), ...(p.deny.length ? { deny: p.deny } : {}), mode: p.audit ? 'audit' : 'enforce' },
          }));
        docs.push(...policies);
        const bundle = compile(docs, { identities: {}, generation: 1 });
        const index = new BundleIndex(bundle, docs);
        const addr = (s: string) => (s === 'world' ? '192.0.2.1' : `10.0.${SEGS.indexOf(s)}.1`);
        for (const src of SEGS) {
          for (const dst of [...SEGS, 'world']) {
            const packets: [number, number][] = [];
            for (let port = 0; port <= 115; port += 3) packets.push([6, port], [17, port]);
            for (const t of [0, 3, 8, 11, 12]) packets.push([1, t << 8]);
            packets.push([47, 0]);
            for (const [proto, port] of packets) {
              let want: 'allow' | 'deny' | 'audit' = 'deny';
              let rank = 0;
              for (const p of policies) {
                if (!p.spec.from.includes(src) || !p.spec.to.includes(dst)) continue;
                if (p.spec.deny?.some((r) => ruleMatches(r, proto, port))) rank = Math.max(rank, p.spec.mode === 'audit' ? 2 : 3);
                if (p.spec.allow?.some((r) => ruleMatches(r, proto, port))) rank = Math.max(rank, 1);
              }
              want = rank === 3 ? 'deny' : rank === 2 ? 'audit' : rank === 1 ? 'allow' : 'deny';
              const segAudit = audits[SEGS.indexOf(src)] || (dst !== 'world' && audits[SEGS.indexOf(dst)]);
              if (want === 'deny' && segAudit) want = 'audit';
              const q =
                proto === 1
                  ? { from: addr(src), to: addr(dst), protocol: proto, type: port >> 8 }
                  : { from: addr(src), to: addr(dst), protocol: proto, port: proto === 47 ? undefined : port };
              const got = index.trace(q).verdict;
              if (got !== want) throw new Error(`${src} -> ${dst} proto ${proto} port ${port}: want ${want}, got ${got}\n${JSON.stringify(policies.map((p) => p.spec))}`);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
