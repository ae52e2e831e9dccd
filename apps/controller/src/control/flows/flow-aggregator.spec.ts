// SPDX-License-Identifier: Apache-2.0
/**
 * What the controller's flow metrics make of enforcer reports (issue 17): the
 * enforcers' cumulative counts become counters that only grow (a restarted
 * enforcer's count starting over is added, not subtracted), drops count every
 * packet with a drop reason as the datapath does (audited ones too), and the
 * pair series of a segment the generation no longer has go.
 */
import { Registry } from 'prom-client';
import type { FlowBatch, WirePairCounter } from '../../../../../proto/cordon/v1/control';
import { IdentityNames } from '../../../../../model/generation/names';
import { FlowAggregator } from './flow-aggregator';

const batch = (over: Partial<FlowBatch>): FlowBatch => ({ enforcer: 'gw-1', seq: 1, generation: 1, windowStart: 0, windowEnd: 0, droppedBatches: 0, pairs: [], flows: [], events: [], ...over });
const pair = (src: number, dst: number, verdict: WirePairCounter['verdict'], reason: WirePairCounter['reason'], packets: number) => ({ srcIdentity: src, dstIdentity: dst, verdict, reason, packets, bytes: packets * 60 }) as WirePairCounter;

describe('FlowAggregator metrics', () => {
  let registry: Registry;
  let names: IdentityNames;
  let agg: FlowAggregator;
  const value = async (metric: string, labels: Record<string, string>) =>
    (await registry.getSingleMetric(metric)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;

  beforeEach(() => {
    registry = new Registry();
    names = new IdentityNames({ sensors: 256, broker: 257, lan: 258 });
    agg = new FlowAggregator(registry, { segmentOf: (id) => names.segmentOf(id) });
  });

  it('batches dropped and events lost: what the enforcer\'s count moved by, and a restart\'s count whole', async () => {
    agg.ingest('gw-1', batch({ droppedBatches: 3, eventsLost: 10 }));
    agg.ingest('gw-1', batch({ droppedBatches: 5, eventsLost: 10 }));
    agg.ingest('gw-2', batch({ enforcer: 'gw-2', droppedBatches: 1 }));
    expect(await value('cordon_flow_batches_dropped_total', { enforcer: 'gw-1' })).toBe(5);
    agg.ingest('gw-1', batch({ droppedBatches: 2, eventsLost: 4 })); // restarted: counts from 0 again
    expect(await value('cordon_flow_batches_dropped_total', { enforcer: 'gw-1' })).toBe(7);
    expect(await value('cordon_flow_batches_dropped_total', { enforcer: 'gw-2' })).toBe(1);
    expect(await value('cordon_security_events_lost_total', { enforcer: 'gw-1' })).toBe(14);
    expect((await registry.getSingleMetric('cordon_flow_batches_dropped_total')!.get()).type).toBe('counter');
  });

  it('drops count refused and audited packets by reason, as the datapath does; allowed ones not', async () => {
    agg.ingest('gw-1', batch({ pairs: [pair(256, 257, 'VERDICT_DENY', 'DROP_REASON_POLICY', 4), pair(256, 257, 'VERDICT_AUDIT', 'DROP_REASON_POLICY', 2), pair(256, 257, 'VERDICT_ALLOW', 'DROP_REASON_NONE', 9)] }));
    expect(await value('cordon_drops_total', { reason: 'policy' })).toBe(6);
    expect(await value('cordon_drops_total', { reason: 'spoofed' })).toBe(0);
  });

  it('a deleted segment\'s pair series go; the others stay', async () => {
    agg.ingest('gw-1', batch({ pairs: [pair(256, 257, 'VERDICT_ALLOW', 'DROP_REASON_NONE', 5), pair(258, 257, 'VERDICT_DENY', 'DROP_REASON_POLICY', 3)] }));
    expect(await value('cordon_flow_packets_total', { src_segment: 'lan' })).toBe(3);
    names = new IdentityNames({ sensors: 256, broker: 257 });
    await agg.pruneSegments(names);
    expect(await value('cordon_flow_packets_total', { src_segment: 'lan' })).toBeUndefined();
    expect(await value('cordon_flow_bytes_total', { src_segment: 'lan' })).toBeUndefined();
    expect(await value('cordon_flow_packets_total', { src_segment: 'sensors', dst_segment: 'broker' })).toBe(5);
  });
});
