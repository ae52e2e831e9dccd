// SPDX-License-Identifier: Apache-2.0
/**
 * Every semantic rule of DESIGN.md, proven with crafted packets through the
 * real program (BPF_PROG_TEST_RUN). Names: family_number_scenario.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { IDENTITY, IpcacheEntry, LIMITS, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath, DropEvent } from '../../native/lib/datapath';
import { openTestDatapath, passes } from '../support/datapath';
import { arp, nd, ND, packet, TCP_FLAGS } from '../support/packets';

const SENSORS = 256;
const BROKER = 257;
const CAMERAS = 258;
const AUDITED = 259;

const ipcache: IpcacheEntry[] = [
  { cidr: '10.10.1.0/24', identity: SENSORS },
  { cidr: 'fd00:10:1::/64', identity: SENSORS },
  { cidr: '10.10.9.0/24', identity: BROKER },
  { cidr: 'fd00:10:9::/64', identity: BROKER },
  { cidr: '10.10.2.0/24', identity: CAMERAS },
  // A device address inside the sensors /24 that belongs to the cameras segment.
  { cidr: '10.10.1.77/32', identity: CAMERAS },
  // A bound device: its address must come from its MAC.
  { cidr: '10.10.1.5/32', identity: SENSORS, mac: '02:00:00:00:01:05' },
  { cidr: 'fd00:10:1::5/128', identity: SENSORS, mac: '02:00:00:00:01:05' },
  { cidr: '10.10.7.0/24', identity: AUDITED, audit: true },
];

const tcp = (port: number, plen = 16) => ({ protocol: 6, port, portPrefixLen: plen });
const policy: PolicyEntry[] = [
  { srcIdentity: SENSORS, dstIdentity: BROKER, ...tcp(8883), verdict: VERDICT.ALLOW, ruleId: 1 },
  // udp 5683-5684 = 5683/16 + 5684/15? no: 5683 is odd, so 5683/16 and 5684/16.
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 5683, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 2 },
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 5684, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 2 },
  // icmp echo-request: type 8, any code (first 8 bits of the port field).
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 1, port: 8 << 8, portPrefixLen: 8, verdict: VERDICT.ALLOW, ruleId: 3 },
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 58, port: 128 << 8, portPrefixLen: 8, verdict: VERDICT.ALLOW, ruleId: 3 },
  // a /12 block: ports 9000-9015 (9008 & 0xfff0 = 9008 -> use 9008-9023 as /12)
  { srcIdentity: SENSORS, dstIdentity: BROKER, ...tcp(9008, 12), verdict: VERDICT.ALLOW, ruleId: 4 },
  // any protocol from cameras to broker, but an explicit longer deny for tcp 22
  { srcIdentity: CAMERAS, dstIdentity: BROKER, protocol: null, verdict: VERDICT.ALLOW, ruleId: 5 },
  { srcIdentity: CAMERAS, dstIdentity: BROKER, ...tcp(22), verdict: VERDICT.DENY, ruleId: 6 },
  // an audit-mode deny: passes, counted as audit
  { srcIdentity: SENSORS, dstIdentity: BROKER, ...tcp(23), verdict: VERDICT.AUDIT, ruleId: 7 },
  // the host may reach sensors over tcp 22 (egress of the host's own traffic)
  { srcIdentity: IDENTITY.HOST, dstIdentity: SENSORS, ...tcp(22), verdict: VERDICT.ALLOW, ruleId: 8 },
  // IP protocol number only (GRE, 47), every "port"
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 47, verdict: VERDICT.ALLOW, ruleId: 9 },
  // encryption required: MQTT over TLS and CoAP over DTLS
  { srcIdentity: SENSORS, dstIdentity: BROKER, ...tcp(8885), verdict: VERDICT.ALLOW, ruleId: 10, encryptionRequired: true },
  { srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 17, port: 5685, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 11, encryptionRequired: true },
  { srcIdentity: AUDITED, dstIdentity: BROKER, ...tcp(8885), verdict: VERDICT.ALLOW, ruleId: 12, encryptionRequired: true },
];
const HOST_ENTRY: IpcacheEntry = { cidr: '10.10.9.254/32', identity: IDENTITY.HOST };

let dp: Datapath;
let sport = 20000;
const nextPort = () => ++sport;

beforeAll(async () => {
  dp = await openTestDatapath('test-verdicts', { eventRate: 100000, eventBurst: 100000 });
  await dp.applyGeneration({ generation: 1, ipcache: [...ipcache, HOST_ENTRY], policy });
});
afterAll(() => {
  dp.unpin();
  dp.close();
});

const S = '10.10.1.10'; // a sensor without a bound MAC
const B = '10.10.9.9'; // the broker
const S6 = 'fd00:10:1::10';
const B6 = 'fd00:10:9::9';

describe('policy', () => {
  test('policy_v4_1_allowed_port_passes_other_ports_drop', async () => {
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 8883 })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 8884 })).toBe(false);
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 8883 })).toBe(false);
  });

  test('policy_v4_2_port_range_edges', async () => {
    const verdicts = [];
    for (const port of [5682, 5683, 5684, 5686, 9007, 9008, 9023, 9024])
      verdicts.push(await passes(dp, { src: S, dst: B, protocol: port < 9000 ? 'udp' : 'tcp', sport: nextPort(), dport: port }));
    expect(verdicts).toEqual([false, true, true, false, false, true, true, false]);
  });

  test('policy_v4_3_default_deny_both_ways_and_intra_segment', async () => {
    expect(await passes(dp, { src: B, dst: S, protocol: 'tcp', sport: nextPort(), dport: 8883 })).toBe(false);
    expect(await passes(dp, { src: S, dst: '10.10.1.11', protocol: 'tcp', sport: nextPort(), dport: 8883 })).toBe(false);
    expect(await passes(dp, { src: S, dst: '198.51.100.1', protocol: 'tcp', sport: nextPort(), dport: 443 })).toBe(false);
  });

  test('policy_v4_4_device_address_beats_segment_cidr', async () => {
    // 10.10.1.77 sits in the sensors /24 but is a camera: any protocol to the broker, but not tcp 22.
    expect(await passes(dp, { src: '10.10.1.77', dst: B, protocol: 'udp', sport: nextPort(), dport: 9999 })).toBe(true);
    expect(await passes(dp, { src: '10.10.1.77', dst: B, protocol: 'tcp', sport: nextPort(), dport: 22 })).toBe(false);
    // and the sensors rule does not apply to it
    expect(await passes(dp, { src: '10.10.1.77', dst: B, protocol: 'tcp', sport: nextPort(), dport: 8883 })).toBe(true);
  });

  test('policy_v4_5_icmp_types', async () => {
    expect(await passes(dp, { src: S, dst: B, protocol: 'icmp', icmpType: 8, icmpId: 77 })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'icmp', icmpType: 13 })).toBe(false); // timestamp
  });

  test('policy_v4_6_protocol_number_rule', async () => {
    expect(await passes(dp, { src: S, dst: B, protocol: 47 })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 50 })).toBe(false);
  });

  test('policy_v6_1_allowed_and_denied', async () => {
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 8883 })).toBe(true);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 8884 })).toBe(false);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'icmpv6', icmpType: 128, icmpId: 5 })).toBe(true);
  });

  test('policy_v6_2_extension_headers_walked', async () => {
    const ext = [0, 60, 43];
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 8883, extHeaders: ext })).toBe(true);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 22, extHeaders: ext })).toBe(false);
  });

  test('policy_v6_3_endless_extension_header_chain_is_malformed', async () => {
    const before = dp.reasonStats().malformed.packets;
    const chain = Array(12).fill(60);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 8883, extHeaders: chain })).toBe(false);
    expect(dp.reasonStats().malformed.packets).toBe(before + 1);
  });

  test('policy_v4_7_audit_deny_passes_and_is_counted', async () => {
    const before = (await dp.ruleStats([7])).get(7)!.packets;
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 23 })).toBe(true);
    expect((await dp.ruleStats([7])).get(7)!.packets).toBe(before + 1);
    const flows = await dp.flows();
    expect(flows.some((f) => f.dport === 23 && f.verdict === 'audit')).toBe(true);
  });

  test('policy_v4_8_audit_segment_passes_what_enforce_would_drop', async () => {
    const pair = async () => (await dp.pairStats()).find((p) => p.srcIdentity === AUDITED && p.verdict === 'audit')?.packets ?? 0;
    const before = await pair();
    expect(await passes(dp, { src: '10.10.7.3', dst: B, protocol: 'tcp', sport: nextPort(), dport: 443 })).toBe(true);
    expect(await pair()).toBe(before + 1);
  });
});

describe('stateful', () => {
  test('ct_v4_1_tcp_reply_passes_stray_reply_drops', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883, tcpFlags: TCP_FLAGS.SYN })).toBe(true);
    expect(await passes(dp, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: p, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883, tcpFlags: TCP_FLAGS.ACK })).toBe(true);
    // the same reply to a port with no connection behind it
    const before = dp.reasonStats().no_connection.packets;
    expect(await passes(dp, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: p + 1000, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK })).toBe(false);
    expect(dp.reasonStats().no_connection.packets).toBe(before + 1);
  });

  test('ct_v4_2_udp_reply_passes', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', sport: p, dport: 5683 })).toBe(true);
    expect(await passes(dp, { src: B, dst: S, protocol: 'udp', sport: 5683, dport: p })).toBe(true);
    expect(await passes(dp, { src: B, dst: S, protocol: 'udp', sport: 5683, dport: p + 1 })).toBe(false);
  });

  test('ct_v4_3_icmp_echo_reply_only_for_its_request', async () => {
    expect(await passes(dp, { src: S, dst: B, protocol: 'icmp', icmpType: 8, icmpId: 4242 })).toBe(true);
    expect(await passes(dp, { src: B, dst: S, protocol: 'icmp', icmpType: 0, icmpId: 4242 })).toBe(true);
    expect(await passes(dp, { src: B, dst: S, protocol: 'icmp', icmpType: 0, icmpId: 4243 })).toBe(false);
  });

  test('ct_x_1_an_echo_is_one_flow_whichever_parse_reads_it', async () => {
    // Plain echoes are read straight from the linear data, ones with IPv4 options or an IPv6
    // extension header by the general parse: a request read by one and its reply by the other
    // must meet on one flow.
    const cases = [
      { src: S, dst: B, protocol: 'icmp' as const, request: 8, reply: 0, shaped: { ipv4OptionsLen: 8 } },
      { src: S6, dst: B6, protocol: 'icmpv6' as const, request: 128, reply: 129, shaped: { extHeaders: [60] } },
    ];
    for (const c of cases) {
      for (const [id, requestShape, replyShape] of [[0x5101, {}, c.shaped], [0x5102, c.shaped, {}]] as const) {
        expect(await passes(dp, { src: c.src, dst: c.dst, protocol: c.protocol, icmpType: c.request, icmpId: id, ...requestShape })).toBe(true);
        expect(await passes(dp, { src: c.dst, dst: c.src, protocol: c.protocol, icmpType: c.reply, icmpId: id, ...replyShape })).toBe(true);
        expect(await passes(dp, { src: c.dst, dst: c.src, protocol: c.protocol, icmpType: c.reply, icmpId: id + 0x100, ...replyShape })).toBe(false);
        const f = (await dp.flows()).filter((x) => x.src === c.src && x.sport === id);
        expect(f).toHaveLength(1);
        expect(f[0]).toMatchObject({ dst: c.dst, dport: 0, packetsFwd: 1, packetsRev: 1, verdict: 'allow', ruleId: 3 });
      }
    }
  });

  test('ct_v6_1_tcp_reply_passes', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: p, dport: 8883 })).toBe(true);
    expect(await passes(dp, { src: B6, dst: S6, protocol: 'tcp', sport: 8883, dport: p, tcpFlags: 0x12 })).toBe(true);
    expect(await passes(dp, { src: B6, dst: S6, protocol: 'icmpv6', icmpType: 129, icmpId: 999 })).toBe(false);
  });

  test('ct_v4_4_flow_counters_follow_packets', async () => {
    const p = nextPort();
    for (let i = 0; i < 3; i++) await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883, tcpFlags: TCP_FLAGS.ACK });
    for (let i = 0; i < 2; i++) await passes(dp, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: p, tcpFlags: TCP_FLAGS.ACK });
    const f = (await dp.flows()).find((x) => x.sport === p && x.dport === 8883)!;
    expect(f).toMatchObject({ src: S, dst: B, packetsFwd: 3, packetsRev: 2, verdict: 'allow', ruleId: 1, srcIdentity: SENSORS, dstIdentity: BROKER });
    expect(f.bytesFwd).toBe(3 * 54);
    expect(f.lastSeenNs).toBeGreaterThanOrEqual(f.firstSeenNs);
  });

  // bpf/cordon.h "flows": a table per family; the fill is the fuller family's, the flows of both read as one list
  test('ct_x_2_each_family_in_its_own_table_read_as_one', async () => {
    const fam = await openTestDatapath('test-families');
    try {
      await fam.applyGeneration({ generation: 1, ipcache, policy });
      for (const p of [30001, 30002, 30003]) expect(await passes(fam, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 })).toBe(true);
      expect(await passes(fam, { src: S6, dst: B6, protocol: 'tcp', sport: 30001, dport: 8883 })).toBe(true);
      for (const p of [30001, 30002]) expect(await passes(fam, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8884 })).toBe(false);
      const fill = await fam.mapFill();
      expect(fill.flows).toEqual({ entries: 3, max: LIMITS.FLOWS });
      expect(fill.denied).toEqual({ entries: 2, max: LIMITS.FLOWS });
      const flows = await fam.flows();
      expect(flows.filter((f) => f.dport === 8883).map((f) => `${f.src}>${f.dst}:${f.sport}`).sort()).toEqual([`${S6}>${B6}:30001`, `${S}>${B}:30001`, `${S}>${B}:30002`, `${S}>${B}:30003`].sort());
      expect(flows.filter((f) => f.dport === 8884).map((f) => `${f.src}:${f.sport}:${f.verdict}`).sort()).toEqual([`${S}:30001:deny`, `${S}:30002:deny`]);
      // the same ports in the other family are another connection: each reply finds its own
      expect(await passes(fam, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: 30001, tcpFlags: 0x12 })).toBe(true);
      expect(await passes(fam, { src: B6, dst: S6, protocol: 'tcp', sport: 8883, dport: 30001, tcpFlags: 0x12 })).toBe(true);
      expect(await passes(fam, { src: B6, dst: S6, protocol: 'tcp', sport: 8883, dport: 30002, tcpFlags: 0x12 })).toBe(false);
    } finally {
      fam.unpin();
      fam.close();
    }
  });
});

describe('related icmp errors', () => {
  /** The IP header and first 8 bytes of L4 of a packet, as an ICMP error quotes it. */
  const quote = (spec: Parameters<typeof packet>[0]) => {
    const full = packet(spec);
    const ipLen = spec.src.includes(':') ? 40 : 20;
    return Buffer.from(full.subarray(14, 14 + ipLen + 8));
  };

  test('related_v4_1_errors_about_a_tracked_connection_pass', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 })).toBe(true);
    const quoted = quote({ src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 });
    // fragmentation needed, from the broker (the peer) and from the gateway itself (a router on the path);
    // who else may send one is test/datapath/holes.test.ts "hole 2"
    expect(await passes(dp, { src: B, dst: S, protocol: 'icmp', icmpType: 3, icmpCode: 4, payload: quoted })).toBe(true);
    expect(await passes(dp, { src: '10.10.9.254', dst: S, protocol: 'icmp', icmpType: 11, icmpCode: 0, payload: quoted })).toBe(true);
  });

  test('related_v4_2_errors_about_unknown_or_foreign_flows_drop', async () => {
    const p = nextPort();
    const untracked = quote({ src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 });
    expect(await passes(dp, { src: B, dst: S, protocol: 'icmp', icmpType: 3, icmpCode: 4, payload: untracked })).toBe(false);
    // a tracked connection, but the error is aimed at another host than its sender
    await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 });
    const quoted = quote({ src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 });
    expect(await passes(dp, { src: B, dst: '10.10.1.11', protocol: 'icmp', icmpType: 3, icmpCode: 1, payload: quoted })).toBe(false);
  });

  test('related_v6_1_packet_too_big_for_a_tracked_connection_passes', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: p, dport: 8883 })).toBe(true);
    const mtu = Buffer.from([0, 0, 0x05, 0x00]);
    const quoted = quote({ src: S6, dst: B6, protocol: 'tcp', sport: p, dport: 8883 });
    // type 2: the 4-byte MTU sits where the echo id would; the quote follows the 8-byte header
    const pkt = packet({ src: B6, dst: S6, protocol: 'icmpv6', icmpType: 2, icmpCode: 0, payload: quoted });
    mtu.copy(pkt, 14 + 40 + 4);
    expect((await dp.testRun(pkt)).passed).toBe(true);
    const stray = packet({ src: B6, dst: S6, protocol: 'icmpv6', icmpType: 2, payload: quote({ src: S6, dst: B6, protocol: 'tcp', sport: p + 1, dport: 8883 }) });
    expect((await dp.testRun(stray)).passed).toBe(false);
  });
});

describe('fragments', () => {
  test('frag_v4_1_later_fragment_follows_its_first', async () => {
    const id = 0x4001;
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 5683, fragment: { id, offset: 0, more: true } })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', fragment: { id, offset: 1480, more: true } })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', fragment: { id, offset: 2960, more: false } })).toBe(true);
  });

  test('frag_v4_2_later_fragment_of_a_denied_first_drops', async () => {
    const id = 0x4002;
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', sport: nextPort(), dport: 9999, fragment: { id, offset: 0, more: true } })).toBe(false);
    const before = dp.reasonStats().fragment.packets;
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', fragment: { id, offset: 1480, more: false } })).toBe(false);
    expect(dp.reasonStats().fragment.packets).toBe(before + 1);
  });

  test('frag_v4_3_out_of_order_later_fragment_drops', async () => {
    const id = 0x4003;
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', fragment: { id, offset: 1480, more: false } })).toBe(false);
  });

  test('frag_v4_4_tiny_first_fragment_without_full_l4_is_malformed', async () => {
    // First fragment whose TCP header is cut: the ports cannot be judged.
    const full = packet({ src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 8883, fragment: { id: 0x4004, offset: 0, more: true } });
    const cut = Buffer.from(full.subarray(0, 14 + 20 + 8));
    cut.writeUInt16BE(28, 14 + 2); // tot_len matches what is there
    expect((await dp.testRun(cut)).passed).toBe(false);
  });

  test('frag_v6_1_later_fragment_follows_its_first', async () => {
    const id = 0x60001;
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'udp', sport: nextPort(), dport: 5684, fragment: { id, offset: 0, more: true } })).toBe(true);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'udp', fragment: { id, offset: 1232, more: false } })).toBe(true);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'udp', fragment: { id: id + 1, offset: 1232, more: false } })).toBe(false);
  });
});

describe('malformed packets get a safe verdict', () => {
  const good = () => packet({ src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 8883 });

  test('malformed_v4_1_ip_header_without_the_l4_header_it_names', async () => {
    // The kernel's test run itself refuses frames shorter than an IP header,
    // so the shortest frame it takes is the one to prove: IP says TCP, no TCP follows.
    const p = Buffer.from(good().subarray(0, 14 + 20));
    p.writeUInt16BE(20, 16);
    expect((await dp.testRun(p)).passed).toBe(false);
    const q = Buffer.from(good().subarray(0, 14 + 24));
    q[14] = 0x46; // IHL 6, tot_len 24: options but still no TCP header
    q.writeUInt16BE(24, 16);
    expect((await dp.testRun(q)).passed).toBe(false);
  });

  test('malformed_v4_2_bad_ihl', async () => {
    const p = good();
    p[14] = 0x44; // IHL 4 (< 5)
    expect((await dp.testRun(p)).passed).toBe(false);
    const q = good();
    q[14] = 0x4f; // IHL 15: 60 bytes of header, past the packet's end
    expect((await dp.testRun(q)).passed).toBe(false);
  });

  test('malformed_v4_3_total_length_beyond_packet', async () => {
    const p = good();
    p.writeUInt16BE(1500, 16);
    expect((await dp.testRun(p)).passed).toBe(false);
  });

  test('malformed_v4_4_truncated_tcp_header', async () => {
    const p = good();
    const cut = Buffer.from(p.subarray(0, p.length - 8));
    cut.writeUInt16BE(20 + 12, 16);
    expect((await dp.testRun(cut)).passed).toBe(false);
  });

  test('malformed_v4_5_ip_options_are_skipped_not_misread', async () => {
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 8883, ipv4OptionsLen: 12 })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: nextPort(), dport: 22, ipv4OptionsLen: 12 })).toBe(false);
  });

  test('malformed_x_2_truncated_icmp_echo_header', async () => {
    // 4 of the echo header's 8 bytes, the IP length saying so: neither parse may read past them
    for (const spec of [{ src: S, dst: B, protocol: 'icmp' as const }, { src: S6, dst: B6, protocol: 'icmpv6' as const }]) {
      const p = packet({ ...spec, icmpId: 0x5201 });
      const cut = Buffer.from(p.subarray(0, p.length - 4));
      if (spec.protocol === 'icmp') cut.writeUInt16BE(20 + 4, 16);
      else cut.writeUInt16BE(4, 14 + 4);
      expect((await dp.testRun(cut)).passed).toBe(false);
    }
  });

  test('malformed_v6_1_payload_length_beyond_packet', async () => {
    const p = packet({ src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 8883 });
    p.writeUInt16BE(4000, 14 + 4);
    expect((await dp.testRun(p)).passed).toBe(false);
  });

  test('malformed_v6_2_truncated_extension_header', async () => {
    const p = packet({ src: S6, dst: B6, protocol: 'tcp', sport: nextPort(), dport: 8883, extHeaders: [0] });
    const cut = Buffer.from(p.subarray(0, 14 + 40 + 1));
    cut.writeUInt16BE(1, 14 + 4);
    expect((await dp.testRun(cut)).passed).toBe(false);
  });

  test('malformed_x_1_random_garbage_never_crashes_and_never_passes_as_ip', async () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 300; i++) {
      const len = 54 + (rnd() % 120); // the kernel's test run wants a whole IPv6 header
      const b = Buffer.from(Array.from({ length: len }, rnd));
      b.writeUInt16BE(i % 2 ? 0x0800 : 0x86dd, 12);
      const r = await dp.testRun(b);
      expect([0, 2]).toContain(r.action);
    }
  });

  test('malformed_x_2_unknown_ethertype_is_denied', async () => {
    const p = good();
    p.writeUInt16BE(0x88b5, 12); // local experimental (LLDP and EAPOL pass: holes.test.ts "link-local")
    expect((await dp.testRun(p)).passed).toBe(false);
  });
});

describe('neighbours and spoofing', () => {
  test('arp_1_passes_without_policy', async () => {
    expect((await dp.testRun(arp('10.10.1.10', '02:00:00:00:01:10', '10.10.9.9'))).passed).toBe(true);
  });

  test('arp_2_spoofed_sender_of_bound_address_drops', async () => {
    const before = dp.reasonStats().spoofed.packets;
    expect((await dp.testRun(arp('10.10.1.5', '02:00:00:00:0b:ad', '10.10.9.9', 2))).passed).toBe(false);
    expect((await dp.testRun(arp('10.10.1.5', '02:00:00:00:01:05', '10.10.9.9', 2))).passed).toBe(true);
    expect(dp.reasonStats().spoofed.packets).toBe(before + 1);
  });

  test('nd_v6_1_neighbour_discovery_passes_only_with_hop_limit_255', async () => {
    const ns = { type: ND.NEIGHBOUR_SOLICIT, src: 'fe80::1', dst: 'ff02::1:ff00:9', target: 'fd00:10:9::9' } as const;
    expect((await dp.testRun(nd(ns))).passed).toBe(true);
    expect((await dp.testRun(nd({ type: ND.NEIGHBOUR_ADVERT, src: 'fe80::1', dst: 'ff02::1', target: 'fd00:10:1::10' }))).passed).toBe(true);
    expect((await dp.testRun(nd({ ...ns, hopLimit: 64 }))).passed).toBe(false);
    // a solicitation too short to hold its target is malformed
    expect(await passes(dp, { src: 'fe80::1', dst: 'ff02::1:ff00:9', protocol: 'icmpv6', icmpType: 135, ttl: 255 })).toBe(false);
  });

  test('spoof_v4_1_bound_address_from_another_mac_drops', async () => {
    const before = dp.reasonStats().spoofed.packets;
    const spec = { src: '10.10.1.5', dst: B, protocol: 'tcp' as const, sport: nextPort(), dport: 8883 };
    expect(await passes(dp, { ...spec, srcMac: '02:00:00:00:01:05' })).toBe(true);
    expect(await passes(dp, { ...spec, srcMac: '02:00:00:00:06:66' })).toBe(false);
    expect(dp.reasonStats().spoofed.packets).toBe(before + 1);
  });

  test('spoof_v6_1_bound_address_from_another_mac_drops', async () => {
    const spec = { src: 'fd00:10:1::5', dst: B6, protocol: 'tcp' as const, sport: nextPort(), dport: 8883 };
    expect(await passes(dp, { ...spec, srcMac: '02:00:00:00:01:05' })).toBe(true);
    expect(await passes(dp, { ...spec, srcMac: '02:00:00:00:06:66' })).toBe(false);
  });
});

describe('host traffic on egress', () => {
  test('egress_v4_1_host_originated_packets_are_judged', async () => {
    expect(await passes(dp, { src: '10.10.9.254', dst: S, protocol: 'tcp', sport: nextPort(), dport: 22 }, 'egress')).toBe(true);
    expect(await passes(dp, { src: '10.10.9.254', dst: S, protocol: 'tcp', sport: nextPort(), dport: 80 }, 'egress')).toBe(false);
  });
});

describe('generations', () => {
  test('gen_1_swap_is_atomic_and_rejudges_existing_flows', async () => {
    const d2 = await openTestDatapath('test-generations');
    try {
      const p = 31000;
      await d2.applyGeneration({ generation: 10, ipcache, policy });
      expect(await passes(d2, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883 })).toBe(true);
      expect(d2.state()).toMatchObject({ generation: 10, epoch: 1 });
      // generation 11 drops rule 1: the established flow and its replies stop.
      await d2.applyGeneration({ generation: 11, ipcache, policy: policy.filter((e) => e.ruleId !== 1) });
      expect(d2.state()).toMatchObject({ generation: 11, epoch: 2 });
      expect(await passes(d2, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: p, tcpFlags: TCP_FLAGS.ACK })).toBe(false);
      expect(await passes(d2, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883, tcpFlags: TCP_FLAGS.ACK })).toBe(false);
      // generation 12 brings it back: the same flow passes again.
      await d2.applyGeneration({ generation: 12, ipcache, policy });
      expect(await passes(d2, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883, tcpFlags: TCP_FLAGS.ACK })).toBe(true);
      expect(await passes(d2, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: p, tcpFlags: TCP_FLAGS.ACK })).toBe(true);
    } finally {
      d2.unpin();
      d2.close();
    }
  });

  test('gen_2_global_audit_mode_drops_nothing', async () => {
    const d3 = await openTestDatapath('test-audit-all');
    try {
      await d3.applyGeneration({ generation: 1, ipcache, policy, auditAll: true });
      expect(await passes(d3, { src: B, dst: S, protocol: 'tcp', sport: 1, dport: 1 })).toBe(true);
      expect((await d3.pairStats()).find((x) => x.srcIdentity === BROKER)?.verdict).toBe('audit');
    } finally {
      d3.unpin();
      d3.close();
    }
  });

  test('gen_3_reopen_adopts_pinned_state', async () => {
    const name = 'test-adopt';
    const a = await openTestDatapath(name);
    await a.applyGeneration({ generation: 42, ipcache, policy });
    expect(await passes(a, { src: S, dst: B, protocol: 'tcp', sport: 32000, dport: 8883 })).toBe(true);
    a.close();
    const b = await Datapath.open({ name });
    try {
      expect(b.adopted).toBe(true);
      expect(b.state()).toMatchObject({ generation: 42, epoch: 1 });
      // the connection tracked by the first load still lets its reply through
      expect(await passes(b, { src: B, dst: S, protocol: 'tcp', sport: 8883, dport: 32000, tcpFlags: 0x12 })).toBe(true);
    } finally {
      b.unpin();
      b.close();
    }
  });

  test('gen_4_bad_entries_are_refused_whole', async () => {
    const d4 = await openTestDatapath('test-bad-gen');
    try {
      await d4.applyGeneration({ generation: 1, ipcache, policy });
      await expect(d4.applyGeneration({ generation: 2, ipcache: [{ cidr: '10.0.0.0/33', identity: 300 }], policy })).rejects.toThrow(/prefix length/);
      expect(d4.state().generation).toBe(1);
      expect(await passes(d4, { src: S, dst: B, protocol: 'tcp', sport: 1234, dport: 8883 })).toBe(true);
    } finally {
      d4.unpin();
      d4.close();
    }
  });
});

describe('encryption', () => {
  const PAYLOAD = {
    tls: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03, 0x11]),
    mqtt: Buffer.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]),
    dtls: Buffer.from([0x16, 0xfe, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
    coap: Buffer.from([0x40, 0x01, 0x12, 0x34, 0xb4, 0x74, 0x65, 0x6d, 0x70]),
    quic: Buffer.from([0xc3, 0x00, 0x00, 0x00, 0x01, 0x08, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]),
    ssh: Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'),
    http: Buffer.from('GET /status HTTP/1.1\r\n'),
  };
  const data = (payload: Buffer) => ({ tcpFlags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, payload });
  const flowOf = async (sport: number) => (await dp.flows()).find((f) => f.sport === sport && f.src === S);

  test('enc_v4_1_tls_on_a_required_port_passes_and_is_classified_once', async () => {
    const p = nextPort();
    const base = { src: S, dst: B, protocol: 'tcp' as const, sport: p, dport: 8885 };
    expect(await passes(dp, { ...base, tcpFlags: TCP_FLAGS.SYN })).toBe(true);
    expect(await passes(dp, { ...base, ...data(PAYLOAD.tls) })).toBe(true);
    // later packets are not classified again: even clear bytes pass now
    expect(await passes(dp, { ...base, ...data(PAYLOAD.http) })).toBe(true);
    expect((await flowOf(p))?.encryption).toBe('tls');
  });

  test('enc_v4_2_plaintext_mqtt_on_a_required_port_is_dropped_from_that_packet_on', async () => {
    const p = nextPort();
    const base = { src: S, dst: B, protocol: 'tcp' as const, sport: p, dport: 8885 };
    const before = dp.reasonStats().plaintext.packets;
    expect(await passes(dp, { ...base, tcpFlags: TCP_FLAGS.SYN })).toBe(true);
    expect(await passes(dp, { src: B, dst: S, protocol: 'tcp', sport: 8885, dport: p, tcpFlags: 0x12 })).toBe(true);
    expect(await passes(dp, { ...base, ...data(PAYLOAD.mqtt) })).toBe(false);
    expect(await passes(dp, { ...base, ...data(PAYLOAD.tls) })).toBe(false);
    expect(await passes(dp, { src: B, dst: S, protocol: 'tcp', sport: 8885, dport: p, tcpFlags: TCP_FLAGS.ACK })).toBe(false);
    expect(dp.reasonStats().plaintext.packets).toBe(before + 3);
    expect(await flowOf(p)).toMatchObject({ encryption: 'mqtt', verdict: 'deny', reason: 'plaintext' });
  });

  test('enc_v4_3_plaintext_passes_where_encryption_is_not_required_and_is_still_classified', async () => {
    const p = nextPort();
    const base = { src: S, dst: B, protocol: 'tcp' as const, sport: p, dport: 8883 };
    expect(await passes(dp, { ...base, tcpFlags: TCP_FLAGS.SYN })).toBe(true);
    expect(await passes(dp, { ...base, ...data(PAYLOAD.mqtt) })).toBe(true);
    expect(await flowOf(p)).toMatchObject({ encryption: 'mqtt', verdict: 'allow' });
  });

  test('enc_v4_4_udp_dtls_passes_coap_in_clear_drops', async () => {
    const p1 = nextPort();
    const p2 = nextPort();
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', sport: p1, dport: 5685, payload: PAYLOAD.dtls })).toBe(true);
    expect(await passes(dp, { src: S, dst: B, protocol: 'udp', sport: p2, dport: 5685, payload: PAYLOAD.coap })).toBe(false);
    expect((await flowOf(p1))?.encryption).toBe('dtls');
    expect(await flowOf(p2)).toMatchObject({ encryption: 'coap', reason: 'plaintext' });
  });

  test('enc_x_1_each_class_is_recognised', async () => {
    const cases: [string, 'tcp' | 'udp', number, Buffer][] = [
      ['ssh', 'tcp', 8883, PAYLOAD.ssh],
      ['http', 'tcp', 8883, PAYLOAD.http],
      ['quic', 'udp', 5683, PAYLOAD.quic],
      ['coap', 'udp', 5683, PAYLOAD.coap],
      ['plaintext', 'tcp', 8883, Buffer.from('hello broker')],
    ];
    for (const [cls, protocol, dport, payload] of cases) {
      const p = nextPort();
      await passes(dp, { src: S, dst: B, protocol, sport: p, dport, ...(protocol === 'tcp' ? data(payload) : { payload }) });
      expect([cls, (await flowOf(p))?.encryption]).toEqual([cls, cls]);
    }
  });

  test('enc_v6_1_required_encryption_over_ipv6', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: p, dport: 8885, ...data(PAYLOAD.tls) })).toBe(true);
    expect(await passes(dp, { src: S6, dst: B6, protocol: 'tcp', sport: p + 1, dport: 8885, ...data(PAYLOAD.http) })).toBe(false);
  });

  test('enc_v4_5_audit_segment_reports_plaintext_and_passes_it', async () => {
    const p = nextPort();
    expect(await passes(dp, { src: '10.10.7.3', dst: B, protocol: 'tcp', sport: p, dport: 8885, ...data(PAYLOAD.mqtt) })).toBe(true);
    const f = (await dp.flows()).find((x) => x.sport === p && x.src === '10.10.7.3');
    expect(f).toMatchObject({ verdict: 'audit', reason: 'plaintext', encryption: 'mqtt' });
  });

  test('enc_x_2_classification_off_leaves_flows_pending', async () => {
    const d6 = await openTestDatapath('test-classify-off', { classifyPayload: false });
    try {
      await d6.applyGeneration({ generation: 1, ipcache, policy });
      const p = nextPort();
      expect(await passes(d6, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 8883, ...data(PAYLOAD.mqtt) })).toBe(true);
      expect((await d6.flows()).find((f) => f.sport === p)?.encryption).toBe('pending');
    } finally {
      d6.unpin();
      d6.close();
    }
  });
});

describe('the loaded program', () => {
  // bpf/lib/conntrack.h MAP_CALL: a helper call whose map the verifier cannot tell (clang merged two maps' calls)
  // is neither inlined nor called directly; every call names its map, and the names bpftool prints show it
  test('prog_1_every_map_call_names_its_map', () => {
    for (const prog of ['prog_ingress', 'prog_egress', 'prog_xdp']) {
      const xlated = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'pinned', `${dp.pinDir}/${prog}`], { encoding: 'utf8' });
      expect(xlated).toMatch(/call __htab_map_lookup_elem#/);
      expect({ prog, generic: xlated.match(/call bpf_map_\w+_elem#/g) ?? [] }).toEqual({ prog, generic: [] });
    }
  });
});

describe('events and errors', () => {
  test('events_1_drops_are_reported_with_their_reason', async () => {
    const got: DropEvent[] = [];
    const stop = dp.onEvents((batch) => got.push(...batch), 50);
    const p = nextPort();
    await passes(dp, { src: S, dst: B, protocol: 'tcp', sport: p, dport: 4444 });
    const deadline = Date.now() + 3000;
    while (!got.some((e) => e.sport === p) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop();
    const e = got.find((x) => x.sport === p)!;
    expect(e).toMatchObject({ src: S, dst: B, dport: 4444, protocol: 6, verdict: 'deny', reason: 'policy', srcIdentity: SENSORS, dstIdentity: BROKER });
  });

  test('events_2_rate_limited', async () => {
    const d5 = await openTestDatapath('test-events', { eventRate: 5, eventBurst: 5 });
    try {
      await d5.applyGeneration({ generation: 1, ipcache, policy });
      const got: DropEvent[] = [];
      const stop = d5.onEvents((batch) => got.push(...batch), 50);
      for (let i = 0; i < 200; i++) await passes(d5, { src: B, dst: S, protocol: 'udp', sport: 1000 + i, dport: 9 });
      await new Promise((r) => setTimeout(r, 300));
      stop();
      // 5 of burst per CPU, plus what refilled during the loop
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(60);
      expect(d5.suppressedEvents()).toBeGreaterThan(100);
    } finally {
      d5.unpin();
      d5.close();
    }
  });

  test('errors_1_attach_to_a_missing_interface_says_why', async () => {
    await expect(dp.attach('cordon-nope0', 'ingress')).rejects.toThrow(/cordon-nope0: no such device/);
  });

  test('errors_3_an_incompatible_pinned_map_fails_the_load_with_the_reason', async () => {
    const name = 'test-incompatible';
    Datapath.removePins(name);
    fs.mkdirSync(`/sys/fs/bpf/cordon/${name}`, { recursive: true });
    // A cordon_state of another shape, as an older version might have left.
    execFileSync('bpftool', ['map', 'create', `/sys/fs/bpf/cordon/${name}/cordon_state`, 'type', 'array', 'key', '4', 'value', '8', 'entries', '1', 'name', 'cordon_state']);
    try {
      await expect(Datapath.open({ name })).rejects.toThrow(/load the datapath into the kernel: .*incompatible version[\s\S]*cordon_state/);
    } finally {
      Datapath.removePins(name);
    }
  });

  test('errors_2_test_run_rejects_runt_frames', async () => {
    await expect(dp.testRun(Buffer.alloc(10))).rejects.toThrow(/at least an Ethernet header/);
  });
});
