// SPDX-License-Identifier: Apache-2.0
/**
 * The XDP short-cut (bpf/lib/xdp.h) through the real program
 * (BPF_PROG_TEST_RUN on cordon_xdp): it drops a repeated packet of a flow tc
 * denied under the live epoch, counted as tc counts it, and passes to tc
 * everything tc might judge otherwise. Names: xdp_number_scenario.
 */
import * as fs from 'node:fs';
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath, DropEvent, FlowRecord, XDP_DROP, XDP_PASS } from '../../native/lib/datapath';
import { openTestDatapath } from '../support/datapath';
import { packet, PacketSpec, TCP_FLAGS } from '../support/packets';

const SENSORS = 256;
const BROKER = 257;
const ipcache: IpcacheEntry[] = [
  { cidr: '10.20.1.0/24', identity: SENSORS },
  { cidr: 'fd00:20:1::/64', identity: SENSORS },
  { cidr: '10.20.9.0/24', identity: BROKER },
  { cidr: 'fd00:20:9::/64', identity: BROKER },
  { cidr: '10.20.1.5/32', identity: SENSORS, mac: '02:00:00:00:01:05' },
];
const policy: PolicyEntry[] = [
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 5683, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 },
  // the broker may open tcp connections to sensors on any port
  { srcIdentity: BROKER, dstIdentity: SENSORS, protocol: 6, port: 0, portPrefixLen: 0, verdict: VERDICT.ALLOW, ruleId: 2 },
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 7000, portPrefixLen: 16, verdict: VERDICT.DENY, ruleId: 3 },
];

let dp: Datapath;
let generation = 1;
let sport = 30000;
const nextPort = () => ++sport;
const S = '10.20.1.10';
const B = '10.20.9.9';

beforeAll(async () => {
  dp = await openTestDatapath('test-xdp', { eventRate: 100000, eventBurst: 100000 });
  await dp.applyGeneration({ generation: generation++, ipcache, policy });
});
afterAll(() => {
  dp.unpin();
  dp.close();
});

const xdp = async (spec: PacketSpec) => (await dp.testRun(packet(spec), { direction: 'xdp' })).action;
const tc = async (spec: PacketSpec) => (await dp.testRun(packet(spec))).passed;

async function flowOf(spec: PacketSpec): Promise<FlowRecord | undefined> {
  return (await dp.flows()).find((f) => f.src === spec.src && f.dst === spec.dst && f.sport === spec.sport && f.dport === spec.dport);
}

/** What one packet added to the counters a drop touches: its flow, its rule, its pair, its reason. */
async function countersOf(spec: PacketSpec, ruleId: number, reason: string) {
  const f = await flowOf(spec);
  const rule = (await dp.ruleStats([ruleId])).get(ruleId);
  const pair = (await dp.pairStats()).filter((p) => p.verdict === 'deny' && p.reason === reason);
  return {
    flowPackets: f?.packetsFwd ?? 0,
    flowBytes: f?.bytesFwd ?? 0,
    rule: rule?.packets ?? 0,
    pair: pair.reduce((n, p) => n + p.packets, 0),
    reason: dp.reasonStats()[reason]?.packets ?? 0,
  };
}

const delta = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));

describe('xdp short-cut', () => {
  test('xdp_1_first_packet_of_a_denied_flow_goes_to_tc_its_repeats_drop_at_xdp', async () => {
    const spec: PacketSpec = { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await xdp(spec)).toBe(XDP_PASS); // no denied entry yet: tc judges
    expect(await tc(spec)).toBe(false); // tc denies and remembers the flow
    expect(await xdp(spec)).toBe(XDP_DROP); // the repeat never reaches tc
    // the same flow with the entry gone (as after its eviction) goes back to tc
    const other: PacketSpec = { ...spec, sport: nextPort() };
    expect(await xdp(other)).toBe(XDP_PASS);
  });

  test('xdp_2_a_drop_at_xdp_counts_as_a_drop_by_tc_flow_rule_pair_reason_and_event', async () => {
    const spec: PacketSpec = { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await tc(spec)).toBe(false);
    const events: DropEvent[] = [];
    const stop = dp.onEvents((e) => events.push(...e), 50);
    try {
      const t0 = await countersOf(spec, 3, 'policy');
      expect(await tc(spec)).toBe(false);
      const t1 = await countersOf(spec, 3, 'policy');
      expect(await xdp(spec)).toBe(XDP_DROP);
      const t2 = await countersOf(spec, 3, 'policy');
      const byTc = delta(t0, t1);
      expect(byTc).toEqual({ flowPackets: 1, flowBytes: packet(spec).length, rule: 1, pair: 1, reason: 1 });
      expect(delta(t1, t2)).toEqual(byTc);
      const deadline = Date.now() + 2000;
      while (events.filter((e) => e.sport === spec.sport).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const mine = events.filter((e) => e.sport === spec.sport && e.dport === 7000);
      expect(mine.length).toBeGreaterThanOrEqual(2); // tc's and xdp's
      expect(mine.every((e) => e.verdict === 'deny' && e.reason === 'policy' && e.ruleId === 3)).toBe(true);
    } finally {
      stop();
    }
  });

  test('xdp_3_a_reply_looking_tcp_repeat_is_counted_as_no_connection', async () => {
    const spec: PacketSpec = { src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 443, tcpFlags: TCP_FLAGS.ACK };
    expect(await tc(spec)).toBe(false);
    const before = dp.reasonStats()['no_connection']?.packets ?? 0;
    expect(await xdp(spec)).toBe(XDP_DROP);
    expect(dp.reasonStats()['no_connection']?.packets).toBe(before + 1);
    // the same tuple as a SYN is a policy drop, as tc would count it
    const beforePolicy = dp.reasonStats()['policy']?.packets ?? 0;
    expect(await xdp({ ...spec, tcpFlags: TCP_FLAGS.SYN })).toBe(XDP_DROP);
    expect(dp.reasonStats()['policy']?.packets).toBe(beforePolicy + 1);
    expect((await flowOf(spec))?.reason).toBe('policy');
  });

  test('xdp_4_ipv6_repeats_drop_too', async () => {
    const spec: PacketSpec = { src: 'fd00:20:1::10', dst: 'fd00:20:9::9', protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await xdp(spec)).toBe(XDP_PASS);
    expect(await tc(spec)).toBe(false);
    expect(await xdp(spec)).toBe(XDP_DROP);
  });

  test('xdp_5_allowed_flows_always_pass_to_tc', async () => {
    const spec: PacketSpec = { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 5683 };
    expect(await xdp(spec)).toBe(XDP_PASS);
    expect(await tc(spec)).toBe(true);
    expect(await xdp(spec)).toBe(XDP_PASS);
  });

  test('xdp_6_a_new_epoch_sends_the_flow_back_to_tc', async () => {
    const spec: PacketSpec = { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await tc(spec)).toBe(false);
    expect(await xdp(spec)).toBe(XDP_DROP);
    await dp.applyGeneration({ generation: generation++, ipcache, policy });
    expect(await xdp(spec)).toBe(XDP_PASS); // judged under another epoch: tc judges it again
    expect(await tc(spec)).toBe(false);
    expect(await xdp(spec)).toBe(XDP_DROP);
  });

  test('xdp_7_another_source_mac_than_the_judged_one_goes_to_tc_as_spoofed', async () => {
    const spec: PacketSpec = { src: '10.20.1.5', srcMac: '02:00:00:00:01:05', dst: B, protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await tc(spec)).toBe(false);
    expect(await xdp(spec)).toBe(XDP_DROP);
    const spoofed = { ...spec, srcMac: '02:00:00:00:09:99' };
    const before = dp.reasonStats()['spoofed']?.packets ?? 0;
    expect(await xdp(spoofed)).toBe(XDP_PASS);
    expect(await tc(spoofed)).toBe(false);
    expect(dp.reasonStats()['spoofed']?.packets).toBe(before + 1);
  });

  test('xdp_8_a_denied_tuple_that_became_the_reply_of_a_connection_passes', async () => {
    const p = nextPort();
    // the sensor's stray ACK is denied (no connection) and remembered
    const stray: PacketSpec = { src: S, dst: B, protocol: 'tcp', sport: p, dport: 1883, tcpFlags: TCP_FLAGS.ACK };
    expect(await tc(stray)).toBe(false);
    expect(await xdp(stray)).toBe(XDP_DROP);
    // then the broker opens a connection from 1883 to that port: the same tuple is now its reply
    expect(await tc({ src: B, dst: S, protocol: 'tcp', sport: 1883, dport: p, tcpFlags: TCP_FLAGS.SYN })).toBe(true);
    const reply: PacketSpec = { ...stray, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK };
    expect(await xdp(reply)).toBe(XDP_PASS);
    expect(await tc(reply)).toBe(true);
  });

  test('xdp_9_audit_mode_passes_everything_to_tc', async () => {
    const spec: PacketSpec = { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await tc(spec)).toBe(false);
    dp.setAuditAll(true);
    try {
      expect(await xdp(spec)).toBe(XDP_PASS);
      expect(await tc(spec)).toBe(true);
    } finally {
      dp.setAuditAll(false);
    }
  });

  test('xdp_10_a_destination_with_learned_names_goes_to_tc', async () => {
    const dst = '10.20.9.77';
    const spec: PacketSpec = { src: S, dst, protocol: 'udp', sport: nextPort(), dport: 7001 };
    await dp.applyGeneration({ generation: generation++, ipcache, policy, nameSelectors: true });
    expect(await tc(spec)).toBe(false);
    expect(await xdp(spec)).toBe(XDP_DROP);
    // the DNS proxy learns the address for a name selector: tc must judge the next packet with it
    dp.writeFqdn([{ address: dst, expiresNs: BigInt(Number.MAX_SAFE_INTEGER), selectors: [4096] }]);
    expect(await xdp(spec)).toBe(XDP_PASS);
    dp.deleteFqdn([dst]);
    expect(await xdp(spec)).toBe(XDP_DROP);
  });

  test('xdp_11_what_xdp_does_not_parse_in_full_goes_to_tc', async () => {
    const base: PacketSpec = { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 7000 };
    expect(await tc(base)).toBe(false);
    expect(await xdp(base)).toBe(XDP_DROP);
    expect(await xdp({ ...base, ipv4OptionsLen: 4 })).toBe(XDP_PASS);
    expect(await xdp({ ...base, fragment: { id: 7, offset: 0, more: true } })).toBe(XDP_PASS);
    expect(await xdp({ src: S, dst: B, protocol: 'icmp', icmpType: 8, icmpId: 1 })).toBe(XDP_PASS);
    const truncated = packet(base).subarray(0, 14 + 20 + 4);
    expect((await dp.testRun(truncated, { direction: 'xdp' })).action).toBe(XDP_PASS);
  });

  test('xdp_12_unpin_removes_the_short_cut_pin_with_the_others', async () => {
    const other = await openTestDatapath('test-xdp-unpin');
    const dir = other.pinDir;
    expect(fs.readdirSync(dir)).toContain('prog_xdp');
    other.unpin();
    other.close();
    expect(fs.existsSync(dir)).toBe(false); // nothing left holding the programs and their maps
  });
});
