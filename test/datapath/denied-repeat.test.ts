// SPDX-License-Identifier: Apache-2.0
/**
 * The denied repeat (bpf/lib/denied.h): tc denies a repeated packet of a flow
 * the policy denied under the live epoch from its entry, without the ipcache
 * and the policy. Proven equivalent: the same packets through a datapath with
 * the short-cut and one without (deniedShortcut: false, every packet taking
 * the full judge) get the same verdicts and leave the same flow entries,
 * counters (rule, pair, reason) and events, across what could make a repeat
 * judged otherwise: replies and SYNs, another MAC, egress, a connection
 * opened the other way, fragments, audit, a new epoch, ICMP, IPv6, names.
 */
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath, DropEvent } from '../../native/lib/datapath';
import { openTestDatapath } from '../support/datapath';
import { packet, PacketSpec, TCP_FLAGS } from '../support/packets';

const SENSORS = 256;
const BROKER = 257;
const AUDITED = 258;
const ipcache: IpcacheEntry[] = [
  { cidr: '10.30.1.0/24', identity: SENSORS },
  { cidr: 'fd00:30:1::/64', identity: SENSORS },
  { cidr: '10.30.9.0/24', identity: BROKER },
  { cidr: 'fd00:30:9::/64', identity: BROKER },
  { cidr: '10.30.7.0/24', identity: AUDITED, audit: true },
  { cidr: '10.30.1.5/32', identity: SENSORS, mac: '02:00:00:00:01:05' },
];
const policy: PolicyEntry[] = [
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 5683, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 },
  { srcIdentity: BROKER, dstIdentity: SENSORS, protocol: 6, port: 0, portPrefixLen: 0, verdict: VERDICT.ALLOW, ruleId: 2 },
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 7000, portPrefixLen: 16, verdict: VERDICT.DENY, ruleId: 3 },
];

const S = '10.30.1.10';
const B = '10.30.9.9';
const BOUND = '10.30.1.5';
const MAC = '02:00:00:00:01:05';
type Step = PacketSpec & { times?: number; egress?: boolean };

let on: Datapath;
let off: Datapath;
let generation = 1;
const events: Record<'on' | 'off', DropEvent[]> = { on: [], off: [] };
const stops: (() => void)[] = [];

beforeAll(async () => {
  on = await openTestDatapath('test-denied-on', { eventRate: 100000, eventBurst: 100000 });
  off = await openTestDatapath('test-denied-off', { eventRate: 100000, eventBurst: 100000, deniedShortcut: false });
  for (const dp of [on, off]) await dp.applyGeneration({ generation, ipcache, policy });
  stops.push(on.onEvents((e) => events.on.push(...e), 20), off.onEvents((e) => events.off.push(...e), 20));
});
afterAll(() => {
  for (const s of stops) s();
  for (const dp of [on, off]) {
    dp.unpin();
    dp.close();
  }
});

/** Runs each step through both datapaths; the verdicts must agree, and are returned (true: passed). */
async function both(steps: Step[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const s of steps)
    for (let i = 0; i < (s.times ?? 1); i++) {
      const opts = { direction: s.egress ? ('egress' as const) : ('ingress' as const) };
      const a = (await on.testRun(packet(s), opts)).passed;
      const b = (await off.testRun(packet(s), opts)).passed;
      expect({ step: s, i, passed: a }).toEqual({ step: s, i, passed: b });
      out.push(a);
    }
  return out;
}

async function bothGeneration(extra: { auditAll?: boolean; nameSelectors?: boolean } = {}) {
  generation++;
  for (const dp of [on, off]) await dp.applyGeneration({ generation, ipcache, policy, ...extra });
}

const udp = (sport: number, dport = 7000, src = S, dst = B): Step => ({ src, dst, protocol: 'udp', sport, dport });
const tcp = (sport: number, dport: number, flags: number, src = S, dst = B): Step => ({ src, dst, protocol: 'tcp', sport, dport, tcpFlags: flags });

test('denied_1_repeats_of_denied_flows_get_the_full_judges_verdicts', async () => {
  const passed = await both([
    { ...udp(31001), times: 3 }, // an enforced deny
    { ...udp(31002, 9999), times: 3 }, // the default deny
    tcp(31003, 80, TCP_FLAGS.ACK), // reply-looking: no connection
    tcp(31003, 80, TCP_FLAGS.SYN), // the same flow, now an opening: policy
    { ...tcp(31003, 80, TCP_FLAGS.ACK), times: 2 },
    { ...udp(31004, 7000, BOUND), srcMac: MAC, times: 2 }, // a bound source, its own MAC
    { ...udp(31004, 7000, BOUND), srcMac: '02:00:00:00:09:09' }, // then another: spoofed
    { ...udp(31004, 7000, BOUND), srcMac: MAC },
    { ...udp(31005, 7000, BOUND), srcMac: '02:00:00:00:09:09', egress: true, times: 2 }, // egress: no MAC check
    { ...udp(31006), egress: true, times: 2 },
    { ...udp(31007, 7000, '10.30.7.7'), times: 2 }, // an audited segment passes, reported
    { src: S, dst: B, protocol: 'icmp', icmpType: 13, times: 2 }, // ICMP (timestamp): default deny
    { ...udp(31008, 7000, 'fd00:30:1::10', 'fd00:30:9::9'), times: 3 },
    { ...udp(31009), fragment: { id: 77, offset: 0, more: true }, times: 2 },
    { ...udp(31009), fragment: { id: 77, offset: 8, more: false } },
  ]);
  expect(passed.filter((p) => p).length).toBeGreaterThan(0); // the audited ones
  expect(passed.filter((p) => !p).length).toBeGreaterThan(10);
});

test('denied_2_a_connection_opened_the_other_way_lets_the_denied_flow_through_as_its_reply', async () => {
  const passed = await both([
    { ...tcp(31010, 8080, TCP_FLAGS.ACK), times: 2 }, // sensor -> broker: no connection, denied
    tcp(8080, 31010, TCP_FLAGS.SYN, B, S), // the broker opens one the other way (allowed)
    { ...tcp(31010, 8080, TCP_FLAGS.SYN | TCP_FLAGS.ACK), times: 2 }, // now its replies
  ]);
  expect(passed).toEqual([false, false, true, true, true]);
});

test('denied_3_audit_a_new_epoch_and_name_selectors_are_judged_in_full', async () => {
  await both([{ ...udp(31020), times: 2 }]);
  for (const dp of [on, off]) dp.setAuditAll(true);
  expect(await both([udp(31020)])).toEqual([true]);
  for (const dp of [on, off]) dp.setAuditAll(false);
  await bothGeneration();
  expect(await both([{ ...udp(31020), times: 2 }])).toEqual([false, false]);
  await bothGeneration({ nameSelectors: true });
  expect(await both([{ ...udp(31020), times: 2 }, { ...udp(31021), times: 2 }])).toEqual([false, false, false, false]);
});

test('denied_4_both_leave_the_same_flows_counters_and_events', async () => {
  const flows = async (dp: Datapath) =>
    (await dp.flows()).map(({ firstSeenNs: _f, lastSeenNs: _l, ...rest }) => JSON.stringify(rest)).sort();
  expect(await flows(on)).toEqual(await flows(off));
  const pairs = async (dp: Datapath) => (await dp.pairStats()).map((p) => JSON.stringify(p)).sort();
  expect(await pairs(on)).toEqual(await pairs(off));
  expect(on.reasonStats()).toEqual(off.reasonStats());
  const rules = async (dp: Datapath) => [...(await dp.ruleStats([0, 1, 2, 3])).entries()];
  expect(await rules(on)).toEqual(await rules(off));
  const deadline = Date.now() + 3000;
  while ((events.on.length !== events.off.length || events.on.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const norm = (es: DropEvent[]) => es.map(({ tsNs: _t, ...rest }) => JSON.stringify(rest)).sort();
  expect(norm(events.on)).toEqual(norm(events.off));
  expect(events.on.length).toBeGreaterThan(10);
});
