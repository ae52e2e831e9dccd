// SPDX-License-Identifier: Apache-2.0
/**
 * The flow collector on raw flow dumps laid out as bpf/cordon.h writes them
 * (key then value, FLOW_ENTRY offsets) and on decoded flows (recording
 * datapaths): increments only for flows that moved, MACs and interface names,
 * flows forgotten when the kernel forgets them, batches of bounded size.
 */
import type { FlowBatch } from '../../../proto/cordon/v1/control';
import { FLOW_BATCH_MAX_RECORDS } from '../../../proto/cordon/v1/control';
import { FLOW_ENTRY, FLOW_FLAG, LAYOUT } from '../../../native/lib/abi';
import type { DatapathFlow, DatapathPort } from './datapath.port';
import { FLOW_BATCH_RECORDS, FlowCollector, FlowCounters } from './flow-collector';
import { InterfaceNames, NeighbourMacs } from './interface-names';
import { EnforcerMetrics } from './metrics';

interface Entry {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  firstSeenNs: number;
  pf: number;
  bf: number;
  pr?: number;
  br?: number;
  verdict?: number;
  reason?: number;
  ifindex?: number;
  srcMac?: string;
}

/** One flow entry as the kernel dumps it: struct cordon_flow_key then struct cordon_flow_value. */
function entry(e: Entry): Buffer {
  const b = Buffer.alloc(FLOW_ENTRY.STRIDE);
  const v4 = (a: string, o: number) => {
    b[o + 10] = 0xff;
    b[o + 11] = 0xff;
    a.split('.').forEach((x, i) => (b[o + 12 + i] = Number(x)));
  };
  const K = LAYOUT.cordon_flow_key;
  const V = LAYOUT.cordon_flow_value;
  v4(e.src, K.saddr);
  v4(e.dst, K.daddr);
  b.writeUInt16BE(e.sport, K.sport);
  b.writeUInt16BE(e.dport, K.dport);
  b[K.protocol] = 6;
  b[K.family] = 4;
  const v = FLOW_ENTRY.VALUE;
  b.writeBigUInt64LE(BigInt(e.firstSeenNs), v + V.first_seen_ns);
  b.writeBigUInt64LE(BigInt(e.firstSeenNs + 1000), v + V.last_seen_ns);
  b.writeBigUInt64LE(BigInt(e.pf), v + V.packets_fwd);
  b.writeBigUInt64LE(BigInt(e.bf), v + V.bytes_fwd);
  b.writeBigUInt64LE(BigInt(e.pr ?? 0), v + V.packets_rev);
  b.writeBigUInt64LE(BigInt(e.br ?? 0), v + V.bytes_rev);
  b.writeUInt32LE(256, v + V.src_identity);
  b.writeUInt32LE(257, v + V.dst_identity);
  b.writeUInt32LE(1, v + V.rule_id);
  b.writeUInt32LE(e.ifindex ?? 3, v + V.ifindex);
  b[v + V.verdict] = e.verdict ?? 1;
  b[v + V.reason] = e.reason ?? 0;
  if (e.srcMac) {
    b[v + V.flags] = FLOW_FLAG.SRC_MAC;
    e.srcMac.split(':').forEach((x, i) => (b[v + V.src_mac + i] = parseInt(x, 16)));
  }
  return b;
}

class RawDatapath {
  readonly adopted = false;
  live: Entry[] = [];
  denied: Entry[] = [];
  objects: DatapathFlow[] | null = null;
  fills = 0;
  async flowsRaw() {
    return { live: Buffer.concat(this.live.map(entry)), denied: Buffer.concat(this.denied.map(entry)) };
  }
  flows() {
    return this.objects ?? [];
  }
  pairStats() {
    return [];
  }
  reasonStats() {
    return {};
  }
  mapFill() {
    this.fills++;
    return { flows: { entries: this.live.length, max: 262144 } };
  }
}

const ns = Number(process.hrtime.bigint());

function collector(dp: RawDatapath, opts: ConstructorParameters<typeof FlowCollector>[5] = {}) {
  const metrics = new EnforcerMetrics();
  const c = new FlowCollector(dp as unknown as DatapathPort, metrics, 'gw-1', () => ({ sensors: 256, broker: 257 }), () => 7, { queueBatches: 1000, ...opts });
  const batches = (): FlowBatch[] => c.queue.take(c.queue.length);
  return { c, batches, metrics };
}

describe('FlowCollector on raw dumps', () => {
  it('sends each flow once with its counters, then only the flows that moved, as increments', async () => {
    const dp = new RawDatapath();
    const { c, batches } = collector(dp);
    dp.live = [
      { src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, firstSeenNs: ns - 1e9, pf: 6, bf: 600, pr: 4, br: 400 },
      { src: '10.10.1.6', dst: '10.10.9.1', sport: 40001, dport: 8883, firstSeenNs: ns - 1e9, pf: 1, bf: 60 },
    ];
    dp.denied = [{ src: '10.10.1.7', dst: '10.10.9.1', sport: 40002, dport: 22, firstSeenNs: ns - 1e9, pf: 3, bf: 180, verdict: 2, reason: 1 }];
    await c.poll();
    const first = batches();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ enforcer: 'gw-1', generation: 7 });
    expect(first[0].flows).toHaveLength(3);
    expect(first[0].flows[0]).toMatchObject({ src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, protocol: 6, family: 4, verdict: 'VERDICT_ALLOW', packetsFwd: 6, bytesFwd: 600, packetsRev: 4, bytesRev: 400, ifindex: 3 });
    expect(first[0].flows[2]).toMatchObject({ src: '10.10.1.7', verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 3 });

    dp.live[0] = { ...dp.live[0], pf: 9, bf: 900 };
    await c.poll();
    const second = batches();
    expect(second.flatMap((b) => b.flows)).toEqual([expect.objectContaining({ src: '10.10.1.5', packetsFwd: 3, bytesFwd: 300, packetsRev: 0, bytesRev: 0 })]);

    await c.poll();
    expect(batches().flatMap((b) => b.flows)).toEqual([]);
  });

  it('forgets a flow the kernel forgot, and counts a flow re-created under the same 5-tuple whole', async () => {
    const dp = new RawDatapath();
    const { c, batches } = collector(dp);
    const f = { src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, firstSeenNs: ns - 1e9, pf: 6, bf: 600 };
    dp.live = [f];
    await c.poll();
    dp.live = [];
    await c.poll();
    expect(c['live'].size).toBe(0);
    dp.live = [{ ...f, firstSeenNs: ns, pf: 2, bf: 120 }];
    batches();
    await c.poll();
    expect(batches().flatMap((b) => b.flows)).toEqual([expect.objectContaining({ packetsFwd: 2, bytesFwd: 120 })]);
  });

  it('a baseline poll (adopted datapath) records where counters stand and sends nothing', async () => {
    const dp = new RawDatapath();
    const { c, batches } = collector(dp, { baseline: true });
    dp.live = [{ src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, firstSeenNs: ns - 1e9, pf: 6, bf: 600 }];
    await c.poll();
    expect(batches()).toEqual([]);
    dp.live[0] = { ...dp.live[0], pf: 7, bf: 700 };
    await c.poll();
    expect(batches().flatMap((b) => b.flows)).toEqual([expect.objectContaining({ packetsFwd: 1, bytesFwd: 100 })]);
  });

  it('a baseline taken when the datapath was adopted reports everything that moved since, including before the first poll', async () => {
    const dp = new RawDatapath();
    dp.live = [{ src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, firstSeenNs: ns - 1e9, pf: 6, bf: 600 }];
    const { c, batches } = collector(dp, { baselineFlows: await dp.flowsRaw() });
    // between adoption and the first poll: the old flow moves and a new one starts
    dp.live = [
      { ...dp.live[0], pf: 8, bf: 800 },
      { src: '10.10.1.6', dst: '10.10.9.1', sport: 40001, dport: 8883, firstSeenNs: ns, pf: 2, bf: 120 },
    ];
    await c.poll();
    expect(batches().flatMap((b) => b.flows)).toEqual([
      expect.objectContaining({ src: '10.10.1.5', packetsFwd: 2, bytesFwd: 200 }),
      expect.objectContaining({ src: '10.10.1.6', packetsFwd: 2, bytesFwd: 120 }),
    ]);
  });

  it('carries the bound source MAC, else the one a drop event of that source showed, else the neighbour table\'s, and the interface name', async () => {
    const dp = new RawDatapath();
    const lists: Array<string | undefined> = [];
    const names = new InterfaceNames('/run/netns/gw', async (netns) => {
      lists.push(netns);
      return [{ ifindex: 3, ifname: 'eth1' }];
    });
    const neighbours = new NeighbourMacs('/run/netns/gw', async () => [
      { dst: '10.10.1.6', lladdr: '02:00:00:00:00:99' },
      { dst: '10.10.1.8', lladdr: '02:00:00:00:00:0A' },
    ]);
    const { c, batches } = collector(dp, { interfaceNames: names, neighbours });
    c.pushEvents([
      { tsNs: ns, src: '10.10.1.6', dst: '10.10.9.1', sport: 1, dport: 22, protocol: 6, family: 4, verdict: 'deny', reason: 'policy', srcIdentity: 256, dstIdentity: 257, ruleId: 0, ifindex: 3, srcMac: '02:00:00:00:00:06' },
    ]);
    dp.live = [
      { src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, firstSeenNs: ns - 1e9, pf: 6, bf: 600, srcMac: '02:00:00:00:00:05' },
      { src: '10.10.1.6', dst: '10.10.9.1', sport: 40001, dport: 8883, firstSeenNs: ns - 1e9, pf: 1, bf: 60 },
      { src: '10.10.1.8', dst: '10.10.9.1', sport: 40002, dport: 8883, firstSeenNs: ns - 1e9, pf: 1, bf: 60, ifindex: 9 },
    ];
    await c.poll();
    const all = batches();
    const flows = all.flatMap((b) => b.flows);
    expect(flows.map((f) => [f.src, f.srcMac ?? '', f.interface ?? ''])).toEqual([
      ['10.10.1.5', '02:00:00:00:00:05', 'eth1'],
      ['10.10.1.6', '02:00:00:00:00:06', 'eth1'],
      ['10.10.1.8', '02:00:00:00:00:0a', ''],
    ]);
    expect(all.flatMap((b) => b.events ?? [])).toEqual([expect.objectContaining({ src: '10.10.1.6', srcMac: '02:00:00:00:00:06' })]);
    expect(lists).toEqual(['/run/netns/gw']);
    // ifindex 9 is still unknown, but the table is not read again before retryMs.
    dp.live[2] = { ...dp.live[2], pf: 2 };
    await c.poll();
    expect(lists).toHaveLength(1);
  });

  it('cuts 12,001 changed flows into batches of FLOW_BATCH_RECORDS (at most FLOW_BATCH_MAX_RECORDS), counts the tables from the dumps and walks the maps now and then', async () => {
    const dp = new RawDatapath();
    const { c, batches, metrics } = collector(dp);
    const n = 12_001;
    dp.live = Array.from({ length: n }, (_, i) => ({ src: `10.64.${i >> 8}.${i & 255}`, dst: '10.2.0.9', sport: 40000, dport: 5201, firstSeenNs: ns - 1e9, pf: 1, bf: 60 }));
    await c.poll();
    const got = batches();
    const full = Math.floor(n / FLOW_BATCH_RECORDS);
    expect(FLOW_BATCH_RECORDS).toBeLessThanOrEqual(FLOW_BATCH_MAX_RECORDS);
    expect(got.map((b) => b.flows.length)).toEqual([...Array(full).fill(FLOW_BATCH_RECORDS), n - full * FLOW_BATCH_RECORDS]);
    expect(new Set(got.flatMap((b) => b.flows.map((f) => f.src))).size).toBe(n);
    await c.poll();
    expect(dp.fills).toBe(1);
    expect(await metrics.registry.metrics()).toContain(`cordon_map_entries{map="flows"} ${n}`);
  });
});

describe('FlowCollector on decoded flows (datapaths without flowsRaw)', () => {
  it('diffs them the same way', async () => {
    const dp = new RawDatapath();
    (dp as { flowsRaw?: unknown }).flowsRaw = undefined;
    const { c, batches } = collector(dp);
    const f: DatapathFlow = { src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, protocol: 6, family: 4, srcIdentity: 256, dstIdentity: 257, verdict: 'allow', reason: 'none', ruleId: 1, packetsFwd: 6, bytesFwd: 600, packetsRev: 4, bytesRev: 400, firstSeenNs: ns - 1e9, lastSeenNs: ns, ifindex: 3, srcMac: '02:00:00:00:00:05' };
    dp.objects = [f];
    await c.poll();
    dp.objects = [{ ...f, packetsFwd: 9, bytesFwd: 900 }];
    await c.poll();
    expect(batches().flatMap((b) => b.flows)).toEqual([
      expect.objectContaining({ packetsFwd: 6, packetsRev: 4, srcMac: '02:00:00:00:00:05' }),
      expect.objectContaining({ packetsFwd: 3, bytesFwd: 300, packetsRev: 0 }),
    ]);
  });
});

describe('FlowCounters', () => {
  it('reuses the slots of forgotten flows and shrinks after a storm', () => {
    const t = new FlowCounters();
    const inc = new Float64Array(4);
    t.begin();
    for (let i = 0; i < 50_000; i++) t.seen(`k${i}`, i, i, 0, 0, inc);
    t.sweep();
    expect(t.size).toBe(50_000);
    t.begin();
    for (let i = 0; i < 10; i++) t.seen(`k${i}`, i + 5, i + 5, 0, 0, inc);
    t.sweep();
    expect(t.size).toBe(10);
    expect(t['counters'].length).toBeLessThan(4 * 2048);
    t.begin();
    t.seen('k3', 10, 10, 0, 0, inc);
    expect([...inc]).toEqual([2, 2, 0, 0]);
  });
});
