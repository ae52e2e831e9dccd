import { FlowStore, matches, parseProtocol, type Flow } from './flows';

const flow = (o: Partial<Flow> = {}): Flow => ({
  enforcer: 'gw-1', src: '10.0.1.2', dst: '10.0.9.2', sport: 40000, dport: 8883, protocol: 6, family: 4, srcSegment: 'sensors', dstSegment: 'broker',
  verdict: 'allow', reason: 'none', ruleId: 1, packets: 4, bytes: 400, firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-01-01T00:00:10.000Z', ...o,
});
const noDevice = () => undefined;

test('every filter narrows: segment either side, device by name, address prefix, port, protocol by name or number, verdict, reason, encryption, enforcer, time', () => {
  const f = flow({ encryption: 'tls' });
  const now = Date.parse('2026-01-01T00:00:20.000Z');
  const dev = (a: string) => (a === '10.0.1.2' ? 'sensor-1' : undefined);
  const yes = [{ segment: 'broker' }, { device: 'SENSOR-1' }, { address: '10.0.1.' }, { port: '8883' }, { protocol: 'tcp' }, { protocol: '6' }, { verdict: 'allow' }, { reason: 'none' }, { encryption: 'tls' }, { enforcer: 'gw-1' }, { windowMs: 60_000 }];
  const no = [{ segment: 'cameras' }, { device: 'cam-1' }, { address: '10.0.2.' }, { port: '1883' }, { protocol: 'udp' }, { verdict: 'deny' }, { reason: 'policy' }, { encryption: 'plaintext' }, { enforcer: 'gw-2' }, { windowMs: 5_000 }];
  for (const q of yes) expect([q, matches(f, q, dev, now)]).toEqual([q, true]);
  for (const q of no) expect([q, matches(f, q, dev, now)]).toEqual([q, false]);
  expect(matches(flow(), { encryption: 'unknown' }, noDevice)).toBe(true); // a flow without a class counts as unknown
  expect(parseProtocol('bogus')).toBeNull();
  expect(parseProtocol('300')).toBeNull();
});

test('the store merges a flow by its 5-tuple, keeps at most maxRows (least recently seen go) and lists most recent first, counting all matches', () => {
  const st = new FlowStore(3);
  st.add([flow({ sport: 1 }), flow({ sport: 2 })]); // oldest first, as the feed gives rows
  st.add([flow({ sport: 1, packets: 9 })]);
  expect(st.size).toBe(2);
  expect(st.list({}, noDevice).rows.map((f) => [f.sport, f.packets])).toEqual([[1, 9], [2, 4]]);
  st.add([flow({ sport: 3 }), flow({ sport: 4 }), flow({ sport: 5 })]);
  expect(st.size).toBe(3);
  expect(st.list({}, noDevice).rows.map((f) => f.sport)).toEqual([5, 4, 3]);
  const r = st.list({}, noDevice, 2);
  expect({ shown: r.rows.length, matched: r.matched }).toEqual({ shown: 2, matched: 3 });
  expect(st.between('sensors', 'broker', 'deny')).toEqual([]);
  expect(st.between('sensors', 'broker', 'allow')).toHaveLength(3);
});

test('the map has an edge for every pair a held row names, even before its counter does', async () => {
  const { withRows } = await import('./state');
  const pairs = withRows([{ src: 'sensors', dst: 'broker', verdict: 'allow', packets: 100, bytes: 1000 }], [flow(), flow({ srcSegment: 'lan', verdict: 'deny', packets: 2 }), flow({ srcSegment: 'lan', sport: 2, verdict: 'deny', packets: 3 })]);
  expect(pairs).toEqual([
    { src: 'sensors', dst: 'broker', verdict: 'allow', packets: 100, bytes: 1000 },
    { src: 'lan', dst: 'broker', verdict: 'deny', packets: 5, bytes: 800 },
  ]);
});
