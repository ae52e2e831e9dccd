// SPDX-License-Identifier: Apache-2.0
/**
 * Round trip: flows observed while segments run in audit mode -> recommend ->
 * the recommended policies, compiled with the real compiler, allow exactly the
 * observed tuples (checked with the compiler's trace) and deny their neighbours.
 */
import { parse as parseYaml } from 'yaml';
import { compile } from '../compiler/compile';
import { BundleIndex } from '../compiler/trace';
import type { ObservedFlow } from '../monitoring/observed-flows';
import { parseDocuments } from '../policy/parse';
import { portRanges, recommend } from './recommend';

const SEGMENTS = [
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'], mode: 'audit' } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'meters' }, spec: { cidrs: ['10.10.3.0/24'], mode: 'audit' } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: ['10.10.9.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'historian' }, spec: { cidrs: ['10.10.7.0/24'] } },
];
const ADDR: Record<string, string> = { sensors: '10.10.1.10', meters: '10.10.3.10', broker: '10.10.9.10', historian: '10.10.7.10', world: '203.0.113.5' };

const obs = (src: string, dst: string, protocol: number, port: number): ObservedFlow => ({
  srcSegment: src, dstSegment: dst, protocol, port, verdict: 'audit', reason: 'policy', packets: 5, bytes: 500, firstSeen: 0, lastSeen: 0, sample: '',
});

describe('recommend', () => {
  it('merges ports into ranges only when every port was seen', () => {
    expect(portRanges([5684, 5683, 8883, 1883, 1884, 1886])).toEqual(['1883-1884', '1886', '5683-5684', '8883']);
  });

  it('allows exactly the observed flows: round trip through the compiler and trace', () => {
    const observed = [
      obs('sensors', 'broker', 6, 8883),
      obs('sensors', 'broker', 17, 5683),
      obs('sensors', 'broker', 17, 5684),
      obs('meters', 'broker', 6, 8883),
      obs('meters', 'broker', 17, 5683),
      obs('meters', 'broker', 17, 5684),
      obs('sensors', 'historian', 6, 8883),
      obs('sensors', 'historian', 17, 5683),
      obs('sensors', 'historian', 17, 5684),
      obs('meters', 'historian', 6, 8883),
      obs('meters', 'historian', 17, 5683),
      obs('meters', 'historian', 17, 5684),
      obs('broker', 'world', 6, 443),
      obs('sensors', 'broker', 1, 0),
      obs('sensors', 'ghost', 6, 80),
    ];
    const r = recommend(observed, { segments: new Set(SEGMENTS.map((s) => s.metadata.name)) });
    // pairs with identical rules collapse into one policy when that is an exact cross product
    // (sensors->broker also saw ICMP, so it stays apart)
    expect(r.documents.map((d) => [d.spec.from, d.spec.to])).toEqual([
      [['broker'], ['world']],
      [['meters', 'sensors'], ['historian']],
      [['meters'], ['broker']],
      [['sensors'], ['broker']],
    ]);
    expect(r.documents[1].spec.allow).toEqual([{ protocol: 'tcp', ports: ['8883'] }, { protocol: 'udp', ports: ['5683-5684'] }]);
    expect(r.skipped).toEqual([expect.objectContaining({ tuple: 'sensors -> ghost 6/80' })]);

    // YAML as printed parses back through the real validation
    const fromYaml = parseDocuments(r.yaml);
    const docs = parseDocuments([...SEGMENTS.map((s) => ({ ...s, spec: { ...s.spec, mode: 'enforce' } }))]).concat(fromYaml);
    const idx = new BundleIndex(compile(docs, { identities: {}, generation: 1 }), docs);
    const proto = (p: number) => (p === 6 ? 'tcp' : p === 17 ? 'udp' : 'icmp') as 'tcp' | 'udp' | 'icmp';
    for (const f of observed.filter((o) => o.dstSegment !== 'ghost')) {
      const q = { from: ADDR[f.srcSegment], to: ADDR[f.dstSegment], protocol: proto(f.protocol), ...(f.protocol === 1 ? { type: 'echo-request' } : { port: f.port }) };
      expect([`${f.srcSegment}->${f.dstSegment} ${f.protocol}/${f.port}`, idx.trace(q).verdict]).toEqual([`${f.srcSegment}->${f.dstSegment} ${f.protocol}/${f.port}`, 'allow']);
    }
    // and nothing more: neighbouring ports, other protocols, the reverse direction, unobserved pairs
    const denied: [string, string, 'tcp' | 'udp', number][] = [
      ['sensors', 'broker', 'tcp', 8882],
      ['sensors', 'broker', 'tcp', 8884],
      ['sensors', 'broker', 'udp', 5682],
      ['sensors', 'broker', 'udp', 5685],
      ['sensors', 'broker', 'udp', 8883],
      ['broker', 'sensors', 'tcp', 8883],
      ['broker', 'world', 'tcp', 80],
      ['sensors', 'meters', 'tcp', 8883],
      ['historian', 'broker', 'tcp', 8883],
      ['sensors', 'world', 'tcp', 443],
    ];
    for (const [from, to, protocol, port] of denied) {
      expect([from, to, protocol, port, idx.trace({ from: ADDR[from], to: ADDR[to], protocol, port }).verdict]).toEqual([from, to, protocol, port, 'deny']);
    }
    expect(idx.trace({ from: ADDR.sensors, to: ADDR.broker, protocol: 'icmp', type: 13 }).verdict).toBe('deny');
    expect(parseYaml(r.yaml.split('---\n')[0])).toMatchObject({ kind: 'Policy' });
  });
});
