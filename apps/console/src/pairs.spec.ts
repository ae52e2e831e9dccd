import { circleLayout, edgeWidth, parsePairs } from './pairs';

test('segment-pair traffic is read from the controller\'s counters, escaped labels and all, zero series left out', () => {
  const text = [
    '# HELP cordon_flow_packets_total Packets by segment pair and verdict',
    'cordon_flow_packets_total{src_segment="sensors",dst_segment="broker",verdict="allow"} 120',
    'cordon_flow_bytes_total{src_segment="sensors",dst_segment="broker",verdict="allow"} 9000',
    'cordon_flow_packets_total{src_segment="lan",dst_segment="br\\"oker",verdict="deny"} 3',
    'cordon_flow_packets_total{src_segment="lan",dst_segment="broker",verdict="audit"} 0',
    'cordon_drops_total{reason="policy"} 3',
  ].join('\n');
  expect(parsePairs(text)).toEqual([
    { src: 'sensors', dst: 'broker', verdict: 'allow', packets: 120, bytes: 9000 },
    { src: 'lan', dst: 'br"oker', verdict: 'deny', packets: 3, bytes: 0 },
  ]);
});

test('the layout gives each segment a stable place inside the drawing, whatever the order of the names', () => {
  const a = circleLayout(['b', 'a', 'c', 'a'], 600, 400);
  const b = circleLayout(['c', 'b', 'a'], 600, 400);
  expect([...a.entries()]).toEqual([...b.entries()]);
  expect(a.size).toBe(3);
  for (const p of a.values()) expect(p.x >= 0 && p.x <= 600 && p.y >= 0 && p.y <= 400).toBe(true);
  expect(new Set([...a.values()].map((p) => `${p.x},${p.y}`)).size).toBe(3);
  expect(edgeWidth(0)).toBeLessThan(edgeWidth(1000));
  expect(edgeWidth(1e12)).toBe(10);
});
