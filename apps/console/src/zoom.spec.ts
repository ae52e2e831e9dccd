import type { Flow } from './flows';
import { zoomInto } from './zoom';

const flow = (src: string, srcSegment: string, dst: string, dstSegment: string, verdict: string, packets: number): Flow => ({
  enforcer: 'gw', src, dst, sport: 40000, dport: 8883, protocol: 6, family: 4, srcSegment, dstSegment, verdict, reason: verdict === 'deny' ? 'policy' : 'none',
  ruleId: 0, packets, bytes: packets * 100, firstSeen: '2026-12-02T00:00:00Z', lastSeen: '2026-12-02T00:00:01Z',
});

test('zoomed into a segment, its devices are nodes by name (unknown ones by address, marked) and its peers are segments', () => {
  const names: Record<string, string> = { '10.0.1.2': 'sensor-1', '10.0.1.3': 'sensor-1' };
  const z = zoomInto(
    'sensors',
    [
      flow('10.0.1.2', 'sensors', '10.0.9.9', 'broker', 'allow', 5),
      flow('10.0.1.3', 'sensors', '10.0.9.9', 'broker', 'allow', 2), // the same Device, another address
      flow('10.0.1.7', 'sensors', '10.0.9.9', 'broker', 'deny', 1),
      flow('10.0.9.9', 'broker', '10.0.1.2', 'sensors', 'allow', 3),
      flow('10.0.1.2', 'sensors', '10.0.1.7', 'sensors', 'deny', 4),
      flow('10.0.5.5', 'lan', '10.0.9.9', 'broker', 'deny', 9), // does not concern the segment
    ],
    (a) => names[a],
    ['10.0.1.7', '10.0.1.8'],
  );
  expect(z.nodes.map((n) => [n.label, n.kind, n.unknown])).toEqual([
    ['10.0.1.7', 'device', true],
    ['10.0.1.8', 'device', true],
    ['sensor-1', 'device', false],
    ['broker', 'segment', false],
  ]);
  const edge = (src: string, dst: string, verdict: string) => z.edges.find((e) => e.src === src && e.dst === dst && e.verdict === verdict);
  expect(edge('device:sensor-1', 'segment:broker', 'allow')).toMatchObject({ packets: 7, bytes: 700 });
  expect(edge('device:sensor-1', 'segment:broker', 'allow')!.flows).toHaveLength(2);
  expect(edge('device:10.0.1.7', 'segment:broker', 'deny')).toMatchObject({ packets: 1 });
  expect(edge('segment:broker', 'device:sensor-1', 'allow')).toMatchObject({ packets: 3 });
  expect(edge('device:sensor-1', 'device:10.0.1.7', 'deny')).toMatchObject({ packets: 4 });
  expect(z.edges).toHaveLength(4);
  expect(z.nodes.some((n) => n.label === 'lan')).toBe(false);
});
