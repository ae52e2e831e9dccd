// SPDX-License-Identifier: Apache-2.0
/**
 * FlowStream on a real FlowAggregator, its socket a recorder that can say "full"
 * as http.ServerResponse does (write() false, writableNeedDrain until 'drain'):
 * a slow client gets nothing written while full, whatever arrives is only
 * counted (a table of segment pairs, not rows), and one aggregate event follows
 * the drain; heartbeats come only when idle; a client full for stallMs is cut.
 * (test/api/flow-stream.api.test.ts drives the same over real HTTP.)
 */
import { Registry } from 'prom-client';
import type { FlowBatch, WireFlowRecord } from '../../../../../proto/cordon/v1/control';
import { FlowAggregator } from './flow-aggregator';
import { FlowStream, STREAM_DEFAULTS, type StreamSink } from './flow-stream';

const names = { segmentOf: (id: number) => (id === 1 ? 'sensors' : id === 2 ? 'broker' : 'unknown') };
const flow = (sport: number): WireFlowRecord => ({
  src: '10.0.0.1', dst: '10.0.0.2', sport, dport: 1883, protocol: 6, family: 4, srcIdentity: 1, dstIdentity: 2, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE',
  ruleId: 0, packetsFwd: 1, bytesFwd: 100, packetsRev: 1, bytesRev: 100, firstSeen: 1, lastSeen: 2, ifindex: 2,
});
const batch = (from: number, n: number): FlowBatch => ({
  enforcer: 'gw', seq: 1, generation: 1, windowStart: 0, windowEnd: 0, droppedBatches: 0, pairs: [], events: [], flows: Array.from({ length: n }, (_, i) => flow(from + i)),
});

class Recorder implements StreamSink {
  chunks: string[] = [];
  full = false;
  get writableNeedDrain() {
    return this.full;
  }
  write(chunk: string) {
    this.chunks.push(chunk);
    return !this.full;
  }
  events(event: string): any[] {
    return this.chunks.flatMap((c) => c.split('\n\n')).filter((b) => b.includes(`event: ${event}\n`)).map((b) => JSON.parse(/^data: (.*)$/m.exec(b)![1]));
  }
}

describe('FlowStream: rate cap, slow clients, heartbeats', () => {
  const limits = { ...STREAM_DEFAULTS, rowsPerSecond: 10, heartbeatMs: 5000, stallMs: 30_000 };
  let flows: FlowAggregator;
  let sink: Recorder;
  let s: FlowStream;
  beforeEach(() => {
    flows = new FlowAggregator(new Registry(), names);
    sink = new Recorder();
    s = new FlowStream(flows, {}, undefined, sink, limits, 0);
  });

  test('rows up to the cap in a second, the rest counted in an aggregate; the next second has a fresh budget', () => {
    expect(sink.events('ready')).toHaveLength(1);
    flows.ingest('gw', batch(100, 25));
    s.tick(250);
    expect(sink.events('flows')[0].items.map((f: { sport: number }) => f.sport)).toEqual(Array.from({ length: 10 }, (_, i) => 115 + i));
    expect(sink.events('aggregate')).toEqual([{ flows: 15, why: 'rate', rowsPerSecond: 10, pairs: [{ srcSegment: 'sensors', dstSegment: 'broker', verdict: 'allow', flows: 15, packets: 30, bytes: 3000 }] }]);
    flows.ingest('gw', batch(200, 3));
    s.tick(500); // same second: the budget is spent
    expect(sink.events('flows')).toHaveLength(1);
    expect(sink.events('aggregate')[1].flows).toBe(3);
    flows.ingest('gw', batch(300, 3));
    s.tick(1250);
    expect(sink.events('flows')[1].items).toHaveLength(3);
  });

  test('a full socket gets nothing written: arrivals are only counted, and one aggregate follows the drain', () => {
    s.tick(100);
    const before = sink.chunks.length;
    sink.full = true;
    for (let i = 0; i < 50; i++) {
      flows.ingest('gw', batch(1000 + i * 100, 100));
      expect(s.tick(200 + i * 250)).toBe(true);
    }
    expect(sink.chunks.length).toBe(before); // 5,000 flows, not one byte written
    sink.full = false;
    s.tick(20_000);
    expect(sink.events('aggregate')).toEqual([expect.objectContaining({ flows: 5000, why: 'slow-client' })]);
    expect(sink.events('flows')).toEqual([]);
    flows.ingest('gw', batch(9000, 2));
    s.tick(20_250);
    expect(sink.events('flows')[0].items).toHaveLength(2); // rows again, from where the count stopped
  });

  test('a client full for stallMs is cut; heartbeats only when nothing else was written', () => {
    s.tick(4000);
    expect(sink.chunks.filter((c) => c.startsWith(':'))).toHaveLength(0);
    s.tick(5000);
    expect(sink.chunks.filter((c) => c.startsWith(':'))).toHaveLength(1);
    sink.full = true;
    expect(s.tick(6000)).toBe(true);
    expect(s.tick(6000 + limits.stallMs)).toBe(false);
  });
});
