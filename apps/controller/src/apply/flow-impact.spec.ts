import { parseDocuments } from '../policy/parse';
import type { Document } from '../policy/schema';
import { compile } from '../compiler/compile';
import { BundleIndex } from '../compiler/trace';
import { flowImpact, type ObservedFlowRow } from './flow-impact';

const SEGMENTS = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: sensors }
spec: { cidrs: [10.10.1.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: broker }
spec: { cidrs: [10.10.9.0/24] }
`;
const policy = (ports: string[]) => `
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-to-broker }
spec: { from: [sensors], to: [broker], allow: [{ protocol: tcp, ports: [${ports.map((p) => `"${p}"`).join(', ')}] }] }
`;

function index(yaml: string): BundleIndex {
  const docs = parseDocuments(yaml) as Document[];
  return new BundleIndex(compile(docs, { identities: {}, generation: 1 }), docs);
}

const flow = (dport: number, extra: Partial<ObservedFlowRow> = {}): ObservedFlowRow => ({
  enforcer: 'gw-1', src: '10.10.1.5', dst: '10.10.9.2', dport, protocol: 6, verdict: 'allow', reason: 'none', packets: 10, lastSeen: '2026-01-01T00:00:00.000Z', ...extra,
});

test('a port dropped from the allow list newly denies its observed flows; the one kept is left alone', () => {
  const r = flowImpact(index(SEGMENTS + policy(['8883', '1883'])), index(SEGMENTS + policy(['8883'])), [flow(1883), flow(8883), flow(1883, { packets: 5 })]);
  expect(r.checked).toBe(2);
  expect(r.newlyAllowed).toEqual([]);
  expect(r.newlyDenied).toEqual([
    expect.objectContaining({ src: '10.10.1.5', dst: '10.10.9.2', protocol: 'tcp', port: 1883, srcSegment: 'sensors', dstSegment: 'broker', before: 'allow', after: 'deny', policyBefore: 'sensors-to-broker', policyAfter: null, packets: 15 }),
  ]);
});

test('a new allow lists the denied flows it lets through, and drops for other reasons than policy are not the policy change\'s', () => {
  const r = flowImpact(index(SEGMENTS + policy(['8883'])), index(SEGMENTS + policy(['8883', '22'])), [
    flow(22, { verdict: 'deny', reason: 'policy' }),
    flow(22, { src: '10.10.1.6', verdict: 'deny', reason: 'spoofed' }),
  ]);
  expect(r.newlyDenied).toEqual([]);
  expect(r.newlyAllowed).toEqual([expect.objectContaining({ src: '10.10.1.5', port: 22, before: 'deny', after: 'allow', policyAfter: 'sensors-to-broker' })]);
});

test('the lists are bounded and say so', () => {
  const flows = Array.from({ length: 30 }, (_, i) => flow(1883, { src: `10.10.1.${i + 1}` }));
  const r = flowImpact(index(SEGMENTS + policy(['1883'])), index(SEGMENTS + policy(['8883'])), flows, 10);
  expect(r.newlyDenied).toHaveLength(10);
  expect(r.truncated).toBe(true);
  expect(r.checked).toBe(30);
});

test('addresses that do not parse are skipped, not thrown on', () => {
  const r = flowImpact(index(SEGMENTS + policy(['1883'])), index(SEGMENTS + policy(['8883'])), [flow(1883, { src: 'not-an-address' })]);
  expect(r.newlyDenied).toEqual([]);
});
