// SPDX-License-Identifier: Apache-2.0
/**
 * "Every verdict is counted" per segment pair, with the pair figures of
 * tracked connections left in their entries (bpf/cordon.h "counters"): the
 * real program (BPF_PROG_TEST_RUN) and the enforcer's flow collector
 * together give each packet once to the pair and outcome it was judged with,
 * across an epoch change that re-judges the connection too.
 */
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath } from '../../native/lib/datapath';
import type { FlowBatch } from '../../proto/cordon/v1/control';
import type { DatapathPort } from '../../apps/enforcer/src/datapath.port';
import { FlowCollector } from '../../apps/enforcer/src/flow-collector';
import { EnforcerMetrics } from '../../apps/enforcer/src/metrics';
import { openTestDatapath, passes } from '../support/datapath';
import { TCP_FLAGS } from '../support/packets';

const SENSORS = 256;
const BROKER = 257;
const ipcache: IpcacheEntry[] = [
  { cidr: '10.10.1.0/24', identity: SENSORS },
  { cidr: '10.10.9.0/24', identity: BROKER },
];
const allow: PolicyEntry[] = [{ srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 6, port: 8883, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 }];
const audit: PolicyEntry[] = [{ ...allow[0], verdict: VERDICT.AUDIT, ruleId: 2 }];

let dp: Datapath;
beforeAll(async () => {
  dp = await openTestDatapath('test-pair-figures');
});
afterAll(() => {
  dp.unpin();
  dp.close();
});

/** Packets per pair and outcome in the batches a poll queued. */
async function poll(c: FlowCollector): Promise<Record<string, number>> {
  await c.poll();
  const out: Record<string, number> = {};
  for (const b of c.queue.take(c.queue.length) as FlowBatch[])
    for (const p of b.pairs) {
      const k = `${p.srcIdentity}>${p.dstIdentity} ${p.verdict}`;
      out[k] = (out[k] ?? 0) + p.packets;
    }
  return out;
}

const fwd = (sport: number, tcpFlags: number = TCP_FLAGS.ACK) => passes(dp, { src: '10.10.1.5', dst: '10.10.9.1', protocol: 'tcp', sport, dport: 8883, tcpFlags });
const rev = (sport: number) => passes(dp, { src: '10.10.9.1', dst: '10.10.1.5', protocol: 'tcp', sport: 8883, dport: sport, tcpFlags: TCP_FLAGS.ACK });

test('pair_1_every_packet_of_a_connection_is_counted_once_in_its_pair_across_polls_and_an_epoch_change', async () => {
  await dp.applyGeneration({ generation: 1, ipcache, policy: allow });
  const c = new FlowCollector(dp as unknown as DatapathPort, new EnforcerMetrics(), 'gw-1', () => ({ sensors: SENSORS, broker: BROKER }), () => 1);
  await poll(c); // what earlier tests of the process left
  expect(await fwd(41000, TCP_FLAGS.SYN)).toBe(true);
  for (let i = 0; i < 5; i++) expect(await fwd(41000)).toBe(true);
  for (let i = 0; i < 3; i++) expect(await rev(41000)).toBe(true);
  // the kernel's pair counter has the connection's first packet only: the rest is in its entry
  const kernel = (await dp.pairStats()).find((p) => p.srcIdentity === SENSORS && p.dstIdentity === BROKER && p.verdict === 'allow');
  expect(kernel?.packets).toBe(1);
  expect(await poll(c)).toEqual({ [`${SENSORS}>${BROKER} VERDICT_ALLOW`]: 9 });
  for (let i = 0; i < 4; i++) expect(await fwd(41000)).toBe(true);
  expect(await poll(c)).toEqual({ [`${SENSORS}>${BROKER} VERDICT_ALLOW`]: 4 });

  // two more under the allow, then an epoch whose rule audits the same port: the next packet re-judges the connection
  for (let i = 0; i < 2; i++) expect(await fwd(41000)).toBe(true);
  await dp.applyGeneration({ generation: 2, ipcache, policy: audit });
  for (let i = 0; i < 3; i++) expect(await fwd(41000)).toBe(true);
  expect(await rev(41000)).toBe(true);
  expect(await poll(c)).toEqual({ [`${SENSORS}>${BROKER} VERDICT_ALLOW`]: 2, [`${SENSORS}>${BROKER} VERDICT_AUDIT`]: 4 });
  expect(await poll(c)).toEqual({});
});

test('pair_2_a_refused_first_fragment_of_a_connection_is_counted_once_under_its_own_outcome', async () => {
  // a budget of one new flow a source: the connection takes it, the fragment finds the bucket empty
  const d2 = await openTestDatapath('test-pair-figures-budget', { newFlowsPerSecond: 1, newFlowBurst: 1 });
  try {
    await d2.applyGeneration({ generation: 1, ipcache, policy: allow });
    const c = new FlowCollector(d2 as unknown as DatapathPort, new EnforcerMetrics(), 'gw-1', () => ({ sensors: SENSORS, broker: BROKER }), () => 1);
    const spec = { src: '10.10.1.5', dst: '10.10.9.1', protocol: 'tcp' as const, sport: 41001, dport: 8883 };
    expect(await passes(d2, { ...spec, tcpFlags: TCP_FLAGS.SYN })).toBe(true);
    expect(await passes(d2, { ...spec, tcpFlags: TCP_FLAGS.ACK })).toBe(true);
    expect(await passes(d2, { ...spec, tcpFlags: TCP_FLAGS.ACK, fragment: { id: 7, offset: 0, more: true } })).toBe(false);
    expect(await passes(d2, { ...spec, tcpFlags: TCP_FLAGS.ACK })).toBe(true);
    // the refused fragment is in the entry's counters and in the kernel's pair counter, and counted once
    const flow = (await d2.flows()).find((f) => f.sport === 41001);
    expect(flow?.packetsFwd).toBe(4);
    expect(await poll(c)).toEqual({ [`${SENSORS}>${BROKER} VERDICT_ALLOW`]: 3, [`${SENSORS}>${BROKER} VERDICT_DENY`]: 1 });
  } finally {
    d2.unpin();
    d2.close();
  }
});

test('pair_3_the_first_packets_of_a_new_pair_on_several_cpus_at_once_are_all_counted', async () => {
  // Each trial: a pair the kernel has never counted, and 4 first packets of distinct connections
  // at the same instant (the addon's pool threads on both CPUs): the pair's counter is created by
  // one of them while the others look it up. Seen in CI as one packet of 100,000 missing. 8,000
  // pairs are more than a CPU's pair slots (cordon.h "Per identity pair"): some pairs are counted
  // in a slot on one CPU and in the hash on the other, and pairStats() sums both.
  const TRIALS = 8000;
  const AT_ONCE = 4;
  const segments: IpcacheEntry[] = Array.from({ length: TRIALS }, (_, k) => ({ cidr: `10.${30 + (k >> 8)}.${k & 255}.0/24`, identity: 1000 + k }));
  const policy: PolicyEntry[] = segments.map((s, k) => ({ ...allow[0], srcIdentity: s.identity, ruleId: 10 + k }));
  await dp.applyGeneration({ generation: 3, ipcache: [...ipcache, ...segments], policy });
  const short: number[] = [];
  for (let k = 0; k < TRIALS; k++) {
    const passed = await Promise.all(
      Array.from({ length: AT_ONCE }, (_, i) => passes(dp, { src: `10.${30 + (k >> 8)}.${k & 255}.${i + 1}`, dst: '10.10.9.1', protocol: 'tcp', sport: 42000 + i, dport: 8883, tcpFlags: TCP_FLAGS.SYN })),
    );
    expect(passed.every(Boolean)).toBe(true);
  }
  const stats = await dp.pairStats();
  for (let k = 0; k < TRIALS; k++) {
    const counted = stats.find((p) => p.srcIdentity === 1000 + k && p.dstIdentity === BROKER && p.verdict === 'allow')?.packets ?? 0;
    if (counted !== AT_ONCE) short.push(k * 100 + counted);
  }
  expect(short).toEqual([]);
});

test('pair_4_the_first_packets_of_one_new_flow_on_several_cpus_at_once_are_all_in_its_entry', async () => {
  // The same first SYN 4 times at the same instant: each that misses the flow table judges it and
  // starts the flow, and one that loses the insert to another CPU counts its packet in the winner's
  // entry (it overwrote it, and one packet's flow counters were lost, before).
  const TRIALS = 2000;
  const AT_ONCE = 4;
  await dp.applyGeneration({ generation: 4, ipcache, policy: allow });
  const spec = (k: number) => ({ src: `10.10.1.${1 + (k % 250)}`, dst: '10.10.9.1', protocol: 'tcp' as const, sport: 20000 + k, dport: 8883, tcpFlags: TCP_FLAGS.SYN });
  for (let k = 0; k < TRIALS; k++) {
    const passed = await Promise.all(Array.from({ length: AT_ONCE }, () => passes(dp, spec(k))));
    expect(passed.every(Boolean)).toBe(true);
  }
  const flows = new Map((await dp.flows()).filter((f) => f.dport === 8883 && f.sport >= 20000 && f.sport < 20000 + TRIALS).map((f) => [`${f.src} ${f.sport}`, f]));
  const short: string[] = [];
  for (let k = 0; k < TRIALS; k++) {
    const f = flows.get(`${spec(k).src} ${spec(k).sport}`);
    if (f?.packetsFwd !== AT_ONCE) short.push(`${spec(k).src}:${spec(k).sport} ${f?.packetsFwd ?? 'no flow'}`);
  }
  expect(short).toEqual([]);
});
