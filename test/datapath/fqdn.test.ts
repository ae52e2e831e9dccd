// SPDX-License-Identifier: Apache-2.0
/**
 * Name selectors in the real program (BPF_PROG_TEST_RUN): a learned address
 * (cordon_fqdn) counts as each selector an answer gave it, for new flows until
 * it expires and for tracked ones after; the strongest verdict wins; the
 * flow's destination is the selector that decided. Names: fqdn_number_scenario.
 */
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath } from '../../native/lib/datapath';
import { openTestDatapath, passes } from '../support/datapath';
import { TCP_FLAGS } from '../support/packets';

const PLUGS = 256;
const CLOUD = 300; // fqdn:*.cloud.example
const API = 301; // fqdn:api.cloud.example (a deny policy)
const NTP = 302; // fqdn:ntp.example (audit deny)

const ipcache: IpcacheEntry[] = [
  { cidr: '10.11.1.0/24', identity: PLUGS },
  { cidr: 'fd00:11:1::/64', identity: PLUGS },
];
const policy: PolicyEntry[] = [
  { srcIdentity: PLUGS, dstIdentity: CLOUD, protocol: 6, port: 443, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 },
  { srcIdentity: PLUGS, dstIdentity: API, protocol: null, verdict: VERDICT.DENY, ruleId: 2 },
  { srcIdentity: PLUGS, dstIdentity: NTP, protocol: 17, port: 123, portPrefixLen: 16, verdict: VERDICT.AUDIT, ruleId: 3 },
];

let dp: Datapath;
let sport = 30000;
const nextPort = () => ++sport;
const now = () => process.hrtime.bigint(); // CLOCK_MONOTONIC, as bpf_ktime_get_ns
const inSeconds = (s: number) => now() + BigInt(s) * 1_000_000_000n;
const P = '10.11.1.10';
const P6 = 'fd00:11:1::10';
let generation = 1;

beforeAll(async () => {
  dp = await openTestDatapath('test-fqdn');
  await dp.applyGeneration({ generation, ipcache, policy, nameSelectors: true });
});
afterAll(() => {
  dp.unpin();
  dp.close();
});

const syn = (src: string, dst: string, dport: number, port = nextPort()) => passes(dp, { src, dst, protocol: 'tcp', sport: port, dport, tcpFlags: TCP_FLAGS.SYN });

test('fqdn_1_an_address_nobody_resolved_is_dropped_a_learned_one_passes_on_its_first_syn', async () => {
  expect(await syn(P, '192.0.2.10', 443)).toBe(false);
  dp.writeFqdn([{ address: '192.0.2.10', expiresNs: inSeconds(60), selectors: [CLOUD] }]);
  expect(await syn(P, '192.0.2.10', 443)).toBe(true);
  // only what the selector's policy allows
  expect(await syn(P, '192.0.2.10', 80)).toBe(false);
  // another address stays dropped
  expect(await syn(P, '192.0.2.11', 443)).toBe(false);
});

test('fqdn_2_ipv6', async () => {
  expect(await syn(P6, '2001:db8::10', 443)).toBe(false);
  dp.writeFqdn([{ address: '2001:db8::10', expiresNs: inSeconds(60), selectors: [CLOUD] }]);
  expect(await syn(P6, '2001:db8::10', 443)).toBe(true);
});

test('fqdn_3_an_enforced_deny_of_one_selector_beats_an_allow_of_another', async () => {
  dp.writeFqdn([{ address: '192.0.2.20', expiresNs: inSeconds(60), selectors: [CLOUD, API] }]);
  expect(await syn(P, '192.0.2.20', 443)).toBe(false);
  dp.writeFqdn([{ address: '192.0.2.20', expiresNs: inSeconds(60), selectors: [API, CLOUD] }]);
  expect(await syn(P, '192.0.2.20', 443)).toBe(false);
});

test('fqdn_4_an_audit_deny_passes_and_is_reported_with_the_selector_as_destination', async () => {
  dp.writeFqdn([{ address: '192.0.2.30', expiresNs: inSeconds(60), selectors: [CLOUD, NTP] }]);
  expect(await passes(dp, { src: P, dst: '192.0.2.30', protocol: 'udp', sport: nextPort(), dport: 123 })).toBe(true);
  const f = (await dp.flows()).find((x) => x.dst === '192.0.2.30' && x.dport === 123);
  expect(f).toMatchObject({ verdict: 'audit', dstIdentity: NTP });
  const g = (await dp.flows()).find((x) => x.dst === '192.0.2.10' && x.dport === 443);
  expect(g).toMatchObject({ verdict: 'allow', dstIdentity: CLOUD });
});

test('fqdn_5_after_expiry_new_connections_drop_and_tracked_ones_live_on_even_across_a_new_generation', async () => {
  const port = nextPort();
  dp.writeFqdn([{ address: '192.0.2.40', expiresNs: inSeconds(60), selectors: [CLOUD] }]);
  expect(await syn(P, '192.0.2.40', 443, port)).toBe(true);
  dp.writeFqdn([{ address: '192.0.2.40', expiresNs: now() - 1n, selectors: [CLOUD] }]);
  expect(await syn(P, '192.0.2.40', 443)).toBe(false);
  const ack = () => passes(dp, { src: P, dst: '192.0.2.40', protocol: 'tcp', sport: port, dport: 443, tcpFlags: TCP_FLAGS.ACK });
  const reply = () => passes(dp, { src: '192.0.2.40', dst: P, protocol: 'tcp', sport: 443, dport: port, tcpFlags: TCP_FLAGS.ACK });
  expect(await ack()).toBe(true);
  // a new epoch re-judges the tracked connection: still allowed with the expired entry
  await dp.applyGeneration({ generation: ++generation, ipcache, policy, nameSelectors: true });
  expect(await reply()).toBe(true);
  await dp.applyGeneration({ generation: ++generation, ipcache, policy, nameSelectors: true });
  expect(await ack()).toBe(true);
  // forgotten: the connection is judged like any other to an unnamed address
  expect(dp.deleteFqdn(['192.0.2.40'])).toBe(1);
  await dp.applyGeneration({ generation: ++generation, ipcache, policy, nameSelectors: true });
  expect(await ack()).toBe(false);
});

test('fqdn_6_entries_read_back_and_bad_input_is_refused', async () => {
  const all = await dp.fqdnEntries();
  expect(all.find((e) => e.address === '2001:db8::10')).toMatchObject({ selectors: [CLOUD] });
  expect(() => dp.writeFqdn([{ address: '192.0.2.50', expiresNs: inSeconds(1), selectors: [1, 2, 3, 4, 5, 6, 7] }])).toThrow(/7 selectors; the datapath holds 6/);
  expect(() => dp.writeFqdn([{ address: 'nope', expiresNs: 1n, selectors: [] }])).toThrow(/not an IP address/);
  expect(() => dp.setDnsSteering({ resolvers: Array(17).fill('10.0.0.1'), portBase: 10053 })).toThrow(/at most 16/);
});

test('fqdn_9_a_generation_without_name_selectors_does_not_look_learned_addresses_up', async () => {
  dp.writeFqdn([{ address: '192.0.2.90', expiresNs: inSeconds(60), selectors: [CLOUD] }]);
  expect(await syn(P, '192.0.2.90', 443)).toBe(true);
  // the same entries, applied as a generation that names no fqdn: the learned address gives nothing
  await dp.applyGeneration({ generation: ++generation, ipcache, policy });
  expect(await syn(P, '192.0.2.90', 443)).toBe(false);
  await dp.applyGeneration({ generation: ++generation, ipcache, policy, nameSelectors: true });
  expect(await syn(P, '192.0.2.90', 443)).toBe(true);
});
