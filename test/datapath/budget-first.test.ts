// SPDX-License-Identifier: Apache-2.0
/**
 * The new-flow budget of a source before its entry exists (bpf/lib/budget.h:
 * a source's first flow waits in a direct-mapped slot, its second moves the
 * bucket into cordon_budget): the same bucket as with the entry, one token a
 * flow, given back on an answer, through the real program (BPF_PROG_TEST_RUN).
 */
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath } from '../../native/lib/datapath';
import { openTestDatapath, passes } from '../support/datapath';
import { TCP_FLAGS } from '../support/packets';

const SENSORS = 256;
const BROKER = 257;
const ipcache: IpcacheEntry[] = [
  { cidr: '10.10.1.0/24', identity: SENSORS },
  { cidr: '10.10.9.0/24', identity: BROKER },
];
const policy: PolicyEntry[] = [{ srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 6, port: 8883, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 }];

let dp: Datapath;
beforeAll(async () => {
  // two new flows a source at once, refilled one a second (a test's few ms refill nothing)
  dp = await openTestDatapath('test-budget-first', { newFlowsPerSecond: 1, newFlowBurst: 2 });
  await dp.applyGeneration({ generation: 1, ipcache, policy });
});
afterAll(() => {
  dp.unpin();
  dp.close();
});

const syn = (src: string, sport: number) => passes(dp, { src, dst: '10.10.9.1', protocol: 'tcp', sport, dport: 8883, tcpFlags: TCP_FLAGS.SYN });
const synAck = (src: string, sport: number) => passes(dp, { src: '10.10.9.1', dst: src, protocol: 'tcp', sport: 8883, dport: sport, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
test('budget_first_1_the_bucket_a_first_flow_started_outside_the_table_still_bounds_the_source', async () => {
  expect(await syn('10.10.1.20', 30000)).toBe(true);
  expect(await syn('10.10.1.20', 30001)).toBe(true);
  // the burst of two is spent: the third is refused, as with an entry from the first
  expect(await syn('10.10.1.20', 30002)).toBe(false);
  expect(dp.reasonStats().flow_budget.packets).toBe(1);
});

test('budget_first_2_an_answer_gives_the_first_flows_token_back_before_the_entry_exists', async () => {
  expect(await syn('10.10.1.21', 30000)).toBe(true);
  expect(await synAck('10.10.1.21', 30000)).toBe(true);
  // the answered flow's token is back: two more fit in the burst of two, not a third
  expect(await syn('10.10.1.21', 30001)).toBe(true);
  expect(await syn('10.10.1.21', 30002)).toBe(true);
  expect(await syn('10.10.1.21', 30003)).toBe(false);
});
