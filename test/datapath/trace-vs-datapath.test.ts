// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon trace` answers without a kernel; the datapath answers with one. The
 * two must agree: every packet of a corpus is traced over the compiled bundle
 * and sent, as the first packet of a new flow, through the real program
 * (BPF_PROG_TEST_RUN) loaded with that bundle. Compared per packet: passed or
 * dropped (trace allow/audit pass, deny drops), and from the flow table the
 * verdict, the deciding rule and both identities. Both also face a naive
 * reading of the documents, which catches a compiler bug they would share.
 *
 * Flows never meet: each corpus gets a fresh datapath, every TCP/UDP packet has
 * its own source port (TCP as a SYN), every ICMP echo its own id, and no packet
 * is sent whose reverse was sent before for the keys that have no ports (other
 * IP protocols, ICMP errors), so no packet is taken for the reply of another.
 */
import fc from 'fast-check';
import { addressBytes, addressText } from '../../native/lib/encode';
import { Datapath, FlowRecord } from '../../native/lib/datapath';
import { compile } from '../../apps/controller/src/compiler/compile';
import { BundleIndex, TraceResult } from '../../apps/controller/src/compiler/trace';
import { parseDocuments } from '../../apps/controller/src/policy/parse';
import { checkReferences } from '../../apps/controller/src/policy/references';
import { MASKS, parseAddress, parseCidr } from '../../apps/controller/src/policy/net';
import { icmpType, parsePortSpec, protocolNumber } from '../../apps/controller/src/policy/protocols';
import { Device, Document, Policy, Rule, Segment } from '../../apps/controller/src/policy/schema';
import { selectorMatches } from '../../apps/controller/src/policy/selectors';
import { openTestDatapath } from '../support/datapath';
import { packet, PacketSpec, TCP_FLAGS } from '../support/packets';

let dp: Datapath | undefined;
let generation = 0;
// Source ports from 40000 and ICMP ids from 0xa000, destination ports below 40000 (or 65535) and
// ICMP types below 0xa0: within a corpus no packet is the reply of another.
let sport = 40000;
let icmpId = 0xa000;
const nextSport = () => (sport = sport >= 65000 ? 40000 : sport + 1);
const nextIcmpId = () => (icmpId = icmpId >= 0xfff0 ? 0xa000 : icmpId + 1);

/** A datapath with no flows: each corpus starts afresh, as flows of an earlier one would be replies. */
async function freshDatapath(): Promise<Datapath> {
  if (dp) {
    dp.unpin();
    dp.close();
  }
  dp = await openTestDatapath('test-trace-corpus');
  return dp;
}

afterAll(() => {
  dp?.unpin();
  dp?.close();
});

const canon = (a: string) => addressText(addressBytes(a));
const v4 = (a: string) => !a.includes(':');

interface Probe {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number;
  port?: number;
  type?: number;
  code?: number;
}

interface Outcome {
  probe: Probe;
  spec: PacketSpec;
  trace: TraceResult;
  passed: boolean;
  flow?: FlowRecord;
}

function describeProbe(p: Probe): string {
  const what = p.port !== undefined ? `/${p.port}` : p.type !== undefined ? ` type ${p.type} code ${p.code ?? 0}` : '';
  return `${p.src} -> ${p.dst} ${p.protocol}${what}`;
}

const flowKey = (src: string, dst: string, protocol: number, sport: number, dport: number) => `${canon(src)} ${canon(dst)} ${protocol} ${sport} ${dport}`;

/** Some packets carry IPv4 options or IPv6 extension headers: the verdict must not change. */
let shapes = 0;
function shaped(spec: PacketSpec): PacketSpec {
  const n = shapes++ % 6;
  if (v4(spec.src)) return n === 1 ? { ...spec, ipv4OptionsLen: 8 } : spec;
  return n === 1 ? { ...spec, extHeaders: [0, 60] } : n === 3 ? { ...spec, extHeaders: [43] } : spec;
}

/**
 * The probe as a packet on a wire can carry it: an IPv4-mapped address
 * (::ffff:a.b.c.d, one ipcache key with a.b.c.d) travels as IPv4; null when
 * one end is IPv4 and the other IPv6, or ICMP of the other family: no wire
 * carries those (an IPv6 packet with a mapped address is malformed,
 * test/datapath/holes.test.ts "hole 5").
 */
function onTheWire(p: Probe): Probe | null {
  const unmap = (a: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a);
  const w = { ...p, src: unmap(p.src), dst: unmap(p.dst) };
  if (v4(w.src) !== v4(w.dst)) return null;
  if ((w.protocol === 'icmpv6' || w.protocol === 58) && v4(w.src)) return null;
  if ((w.protocol === 'icmp' || w.protocol === 1) && !v4(w.src)) return null;
  return w;
}

/** Builds the packet for a probe; null when it could be mistaken for the reply of an earlier one, or no wire carries it. */
function packetOf(probe: Probe, sentPortless: Set<string>): { spec: PacketSpec; key: string } | null {
  const p = onTheWire(probe);
  if (!p) return null;
  const proto = typeof p.protocol === 'number' ? p.protocol : { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 }[p.protocol];
  if (proto === 6 || proto === 17) {
    const sport = nextSport();
    const spec: PacketSpec = { src: p.src, dst: p.dst, protocol: p.protocol, sport, dport: p.port, tcpFlags: TCP_FLAGS.SYN };
    return { spec, key: flowKey(p.src, p.dst, proto, sport, p.port!) };
  }
  if (proto === 1 || proto === 58) {
    const echoReq = p.type === (proto === 1 ? 8 : 128);
    const echoRep = p.type === (proto === 1 ? 0 : 129);
    const value = ((p.type! & 0xff) << 8) | (p.code ?? 0);
    if (!echoReq && !echoRep) {
      // An ICMP error's flow key is (src, dst, type << 8 | code, 0): never the reverse of an echo (ids >= 0xa000).
      const k = `${canon(p.src)} ${canon(p.dst)} ${proto} ${value}`;
      if (sentPortless.has(`${canon(p.dst)} ${canon(p.src)} ${proto} ${value}`) && p.src !== p.dst) return null;
      sentPortless.add(k);
    }
    const id = nextIcmpId();
    const spec: PacketSpec = { src: p.src, dst: p.dst, protocol: p.protocol, icmpType: p.type, icmpCode: p.code ?? 0, icmpId: id };
    const key = echoReq ? flowKey(p.src, p.dst, proto, id, 0) : echoRep ? flowKey(p.src, p.dst, proto, 0, id) : flowKey(p.src, p.dst, proto, value, 0);
    return { spec, key };
  }
  // Other protocols: one flow per address pair and protocol, either way.
  if (sentPortless.has(`${canon(p.dst)} ${canon(p.src)} ${proto}`) && p.src !== p.dst) return null;
  sentPortless.add(`${canon(p.src)} ${canon(p.dst)} ${proto}`);
  return { spec: { src: p.src, dst: p.dst, protocol: proto }, key: flowKey(p.src, p.dst, proto, 0, 0) };
}

/** Loads the bundle of `docs` into a fresh datapath, sends every probe, and returns each outcome next to its trace. */
async function run(docs: Document[], probes: Probe[], macs: Map<string, string>, quarantined: string[] = []): Promise<Outcome[]> {
  const bundle = compile(docs, { identities: {}, generation: ++generation, quarantined });
  const dp = await freshDatapath();
  await dp.applyGeneration({ generation: bundle.generation, ipcache: bundle.ipcache, policy: bundle.policy });
  const index = new BundleIndex(bundle, docs);
  const sentPortless = new Set<string>();
  const outcomes: (Outcome & { key: string })[] = [];
  for (const probe of probes) {
    const built = packetOf(probe, sentPortless);
    if (!built) continue;
    const spec = shaped({ ...built.spec, srcMac: macs.get(canon(probe.src)) });
    const trace = index.trace({ from: probe.src, to: probe.dst, protocol: probe.protocol, port: probe.port, type: probe.type, code: probe.code });
    const passed = (await dp.testRun(packet(spec), { direction: 'ingress' })).passed;
    outcomes.push({ probe, spec, trace, passed, key: built.key });
  }
  const flows = new Map<string, FlowRecord>();
  for (const f of await dp.flows()) flows.set(flowKey(f.src, f.dst, f.protocol, f.sport, f.dport), f);
  for (const o of outcomes) o.flow = flows.get(o.key);
  return outcomes;
}

/**
 * DESIGN.md read naively, straight from the documents, to catch what trace and
 * datapath would share (both read the compiled entries): an address is the
 * device holding it (in quarantine, or in the selecting segment with the most
 * specific CIDR holding it, else the first selecting one by name), else the
 * segment with the longest CIDR holding it, else world; every rule of every
 * policy covering the pair that matches the packet counts, enforce-deny >
 * audit-deny > allow > default deny; a deny touching an audit-mode segment is audit.
 */
function naiveOracle(docs: readonly Document[], quarantined: readonly string[]): (p: Probe) => { verdict: 'allow' | 'deny' | 'audit'; from: string; to: string } {
  const segments = docs.filter((d): d is Segment => d.kind === 'Segment').sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const devices = docs.filter((d): d is Device => d.kind === 'Device');
  const policies = docs.filter((d): d is Policy => d.kind === 'Policy');
  const cidrs = segments.flatMap((s) => s.spec.cidrs.map((c) => ({ seg: s, p: parseCidr(c) })));
  const longest = (a: bigint, among: typeof cidrs) => {
    let best: (typeof cidrs)[number] | undefined;
    for (const c of among) if ((a & MASKS[c.p.len]) === c.p.value && (!best || c.p.len > best.p.len)) best = c;
    return best?.seg;
  };
  const where = (text: string): { seg: string; audit: boolean } => {
    const a = parseAddress(text)!;
    const dev = devices.find((d) => d.spec.addresses.some((x) => parseAddress(x)!.value === a.value));
    let seg: Segment | undefined;
    if (dev) {
      if (quarantined.includes(dev.metadata.name)) return { seg: 'quarantine', audit: false };
      const sel = segments.filter((s) => selectorMatches(s.spec.selector, dev.metadata.labels));
      seg = sel.length ? (longest(a.value, cidrs.filter((c) => sel.includes(c.seg) && c.p.family === a.family)) ?? sel[0]) : longest(a.value, cidrs);
    } else {
      seg = longest(a.value, cidrs);
    }
    return seg ? { seg: seg.metadata.name, audit: seg.spec.mode === 'audit' } : { seg: 'world', audit: false };
  };
  const matches = (r: Rule, proto: number, p: Probe) => {
    const rp = protocolNumber(r.protocol);
    if (rp === null) return true;
    if (rp !== proto) return false;
    if (r.ports) return r.ports.some((x) => {
      const [lo, hi] = parsePortSpec(x) as [number, number];
      return p.port! >= lo && p.port! <= hi;
    });
    if (r.types) return r.types.some((t) => icmpType(rp, t) === p.type);
    return true;
  };
  return (p) => {
    const proto = typeof p.protocol === 'number' ? p.protocol : (protocolNumber(p.protocol) as number);
    const from = where(p.src);
    const to = where(p.dst);
    let rank = 0;
    for (const pol of policies) {
      if (!pol.spec.from.includes(from.seg) || !pol.spec.to.includes(to.seg)) continue;
      if (pol.spec.deny?.some((r) => matches(r, proto, p))) rank = Math.max(rank, pol.spec.mode === 'audit' ? 2 : 3);
      if (pol.spec.allow?.some((r) => matches(r, proto, p))) rank = Math.max(rank, 1);
    }
    let verdict: 'allow' | 'deny' | 'audit' = rank === 3 ? 'deny' : rank === 2 ? 'audit' : rank === 1 ? 'allow' : 'deny';
    if (verdict === 'deny' && (from.audit || to.audit)) verdict = 'audit';
    return { verdict, from: from.seg, to: to.seg };
  };
}

/** Every disagreement, one line each, with what the bundle holds for the pair. */
function mismatches(outcomes: Outcome[], oracle: ReturnType<typeof naiveOracle>, bundlePolicy?: (src: number, dst: number) => string): string[] {
  const out: string[] = [];
  for (const o of outcomes) {
    const t = o.trace;
    const want = t.verdict !== 'deny';
    const problems: string[] = [];
    const naive = oracle(o.probe);
    if (naive.verdict !== t.verdict || naive.from !== t.from.segment || naive.to !== t.to.segment) problems.push(`the documents say ${naive.verdict} (${naive.from} -> ${naive.to})`);
    if (o.passed !== want) problems.push(`kernel ${o.passed ? 'passed' : 'dropped'} it`);
    if (!o.flow) problems.push('no flow entry');
    else {
      if (o.flow.verdict !== t.verdict) problems.push(`flow verdict ${o.flow.verdict}`);
      if (o.flow.ruleId !== t.ruleId) problems.push(`flow rule ${o.flow.ruleId}`);
      if (o.flow.srcIdentity !== t.from.identity || o.flow.dstIdentity !== t.to.identity) problems.push(`flow identities ${o.flow.srcIdentity} -> ${o.flow.dstIdentity}`);
    }
    if (problems.length) {
      out.push(
        `${describeProbe(o.probe)}: trace ${t.verdict} (rule ${t.ruleId}, ${t.policy ?? 'default deny'}, ${t.from.segment}/${t.from.identity} -> ${t.to.segment}/${t.to.identity}); ${problems.join(', ')}` +
          (bundlePolicy ? `\n    entries: ${bundlePolicy(t.from.identity, t.to.identity)}` : ''),
      );
    }
  }
  return out;
}

// ---- corpus 1: a site written by hand, with every overlap DESIGN.md names -----------------

const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: sensors }
spec: { cidrs: [10.10.1.0/24, "fd00:10:1::/64"], selector: { type: sensor } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: broker }
spec: { cidrs: [10.10.9.0/24, "fd00:10:9::/64"] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: cameras }
spec: { cidrs: [10.10.2.0/24, "fd00:10:2::/64"], selector: { type: camera } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: lab }
spec: { cidrs: [10.10.7.0/24, "fd00:10:7::/64"], mode: audit }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: wide }
spec: { cidrs: [10.0.0.0/8, "fd00::/16"] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: printers }
spec: { selector: { type: printer } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: update }
spec: { cidrs: [192.168.50.0/24] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: cam-07, labels: { type: camera } }
spec: { mac: "02:00:00:00:00:07", addresses: [10.10.2.7, "fd00:10:2::7"] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: cam-99, labels: { type: camera } }
spec: { mac: "02:00:00:00:00:99", addresses: [10.10.2.99] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: th-01, labels: { type: sensor } }
spec: { addresses: [10.10.1.50] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: prn-1, labels: { type: printer } }
spec: { addresses: [10.10.9.60, "fd00:10:9::60"] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: lab-pc }
spec: { mac: "02:00:00:00:07:20", addresses: [10.10.7.20] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: stray }
spec: { addresses: [172.16.5.5] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-to-broker }
spec:
  from: [sensors]
  to: [broker]
  allow:
    - { protocol: tcp, ports: ["8883", "1000-2000"] }
    - { protocol: udp, ports: ["5683-5684"] }
    - { protocol: icmp, types: [echo-request] }
    - { protocol: icmpv6, types: [echo-request] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-broker-deny }
spec:
  from: [sensors]
  to: [broker]
  deny: [ { protocol: tcp, ports: ["1500-1600"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-broker-try-deny }
spec:
  from: [sensors]
  to: [broker]
  mode: audit
  deny: [ { protocol: tcp, ports: ["1024-1279", "1550-1700"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: cameras-to-broker }
spec:
  from: [cameras]
  to: [broker]
  allow: [ { protocol: tcp }, { protocol: udp, ports: ["0-65535"] } ]
  deny: [ { protocol: tcp, ports: ["22"] }, { protocol: udp, ports: ["53"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: cameras-web }
spec:
  from: [cameras, sensors]
  to: [world, update]
  allow: [ { protocol: tcp, ports: ["80"] }, { protocol: tcp, ports: ["443"], encryption: required } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-camera-to-world }
spec:
  from: [cameras]
  to: [world]
  deny: [ { protocol: any } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: lab-to-broker }
spec:
  from: [lab]
  to: [broker]
  allow: [ { protocol: tcp, ports: ["80"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: world-to-broker }
spec:
  from: [world]
  to: [broker]
  allow: [ { protocol: tcp, ports: ["443", "8000-8999"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: world-to-broker-try-deny }
spec:
  from: [world]
  to: [broker]
  mode: audit
  deny: [ { protocol: any } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: world-to-broker-hard-deny }
spec:
  from: [world]
  to: [broker]
  deny: [ { protocol: tcp, ports: ["8080-8089"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: printers-to-sensors }
spec:
  from: [printers]
  to: [sensors]
  allow:
    - { protocol: icmp, types: [echo-request, destination-unreachable, time-exceeded] }
    - { protocol: icmpv6, types: [echo-request, 1, 2, 3] }
    - { protocol: 47 }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: wide-in }
spec:
  from: [wide]
  to: [sensors, broker]
  allow: [ { protocol: tcp, ports: ["10000-20000"] }, { protocol: udp } ]
  deny: [ { protocol: udp, ports: ["10000-10003", "19999"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: broker-to-sensors-ssh-only }
spec:
  from: [broker]
  to: [sensors]
  allow: [ { protocol: tcp, ports: ["22"] } ]
  deny: [ { protocol: any } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-intra }
spec:
  from: [sensors]
  to: [sensors]
  allow: [ { protocol: udp, ports: ["5000-5010"] }, { protocol: icmp }, { protocol: icmpv6 } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: quarantine-to-updates }
spec:
  from: [quarantine]
  to: [update]
  allow: [ { protocol: tcp, ports: ["443"] } ]
`;

/** Addresses by the segment they fall in: CIDR addresses, device addresses (cam-99 quarantined), IPv4-mapped IPv6 ones. */
const SITE_ADDRS: Record<string, string[]> = {
  sensors: ['10.10.1.1', '10.10.1.200', '10.10.1.50', 'fd00:10:1::1', 'fd00:10:1::beef', '::ffff:10.10.1.5'],
  broker: ['10.10.9.1', '10.10.9.254', 'fd00:10:9::1', '::ffff:10.10.9.9'],
  printers: ['10.10.9.60', 'fd00:10:9::60'], // inside broker's CIDRs
  cameras: ['10.10.2.1', '10.10.2.7', 'fd00:10:2::7', 'fd00:10:2::1'],
  quarantine: ['10.10.2.99'],
  lab: ['10.10.7.1', '10.10.7.20', 'fd00:10:7::1'],
  wide: ['10.20.0.5', '10.200.3.4', 'fd00:20::5'],
  update: ['192.168.50.10'],
  world: ['203.0.113.9', '8.8.8.8', '172.16.5.5', '2001:db8::9', '2001:4860::1'],
};
const SITE_V4 = Object.values(SITE_ADDRS).flat().filter(v4);
const SITE_V6 = Object.values(SITE_ADDRS).flat().filter((a) => !v4(a));
const SITE_MACS = new Map([['10.10.2.7', '02:00:00:00:00:07'], ['fd00:10:2::7', '02:00:00:00:00:07'], ['10.10.2.99', '02:00:00:00:00:99'], ['10.10.7.20', '02:00:00:00:07:20']].map(([a, m]) => [canon(a), m]));

/** The range edges of the corpus's port rules, each side. */
const EDGES = [0, 1, 21, 22, 23, 52, 53, 54, 79, 80, 81, 442, 443, 444, 999, 1000, 1023, 1024, 1279, 1280, 1499, 1500, 1549, 1550, 1600, 1601, 1700, 1701, 2000, 2001, 4999, 5000, 5010, 5011, 5682, 5683, 5684, 5685, 7999, 8000, 8079, 8080, 8089, 8090, 8882, 8883, 8884, 8999, 9000, 9999, 10000, 10003, 10004, 19998, 19999, 20000, 20001, 65534, 65535];
const V4_ICMP = [[0, 0], [3, 0], [3, 3], [4, 0], [8, 0], [8, 1], [11, 0], [11, 1], [12, 0], [13, 0]];
const V6_ICMP = [[1, 0], [1, 4], [2, 0], [3, 0], [4, 0], [128, 0], [129, 0], [130, 0]];

/** A seeded PRNG, so a failure names a corpus that can be replayed. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Probes between any two addresses, and (half of them) between the ends of a policy of `docs`. */
function siteProbes(docs: readonly Document[], count: number, seed: number): Probe[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const policies = docs.filter((d): d is Policy => d.kind === 'Policy');
  const probes: Probe[] = [];
  while (probes.length < count) {
    const family = rnd() < 0.7 ? v4 : (a: string) => !v4(a);
    let src: string | undefined;
    let dst: string | undefined;
    if (rnd() < 0.5) {
      const p = pick(policies);
      src = pick((SITE_ADDRS[pick(p.spec.from)] ?? []).filter(family));
      dst = pick((SITE_ADDRS[pick(p.spec.to) as string] ?? []).filter(family));
    } else {
      src = pick(family === v4 ? SITE_V4 : SITE_V6);
      dst = pick(family === v4 ? SITE_V4 : SITE_V6);
    }
    if (!src || !dst) continue;
    const r = rnd();
    if (r < 0.7) {
      // Ports at range edges mostly, some anywhere below the source port range.
      const port = rnd() < 0.8 ? pick(EDGES) : Math.floor(rnd() * 39999) + 1;
      probes.push({ src, dst, protocol: rnd() < 0.6 ? 'tcp' : 'udp', port });
    } else if (r < 0.92) {
      const [type, code] = pick(v4(src) ? V4_ICMP : V6_ICMP);
      probes.push({ src, dst, protocol: v4(src) ? 'icmp' : 'icmpv6', type, code });
    } else {
      probes.push({ src, dst, protocol: pick([47, 50, 132]) });
    }
  }
  return probes;
}

describe('trace and datapath agree', () => {
  test('trace_corpus_1_handwritten_site_v4_v6_overlaps_audit_quarantine', async () => {
    const docs = parseDocuments(SITE);
    expect(checkReferences(docs).errors).toEqual([]);
    const probes = siteProbes(docs, 1500, 20261126);
    const outcomes = await run(docs, probes, SITE_MACS, ['cam-99']);
    expect(outcomes.length).toBeGreaterThan(1250); // of 1,500: probes no wire carries (IPv4 to IPv6 via a mapped address) are skipped
    // The corpus reaches every verdict, every kind of deciding entry and both families.
    const seen = (f: (o: Outcome) => boolean) => outcomes.filter(f).length;
    expect(seen((o) => o.trace.verdict === 'allow')).toBeGreaterThan(20);
    expect(seen((o) => o.trace.verdict === 'audit' && o.trace.policy !== null)).toBeGreaterThan(5);
    expect(seen((o) => o.trace.verdict === 'audit' && o.trace.policy === null)).toBeGreaterThan(5);
    expect(seen((o) => o.trace.verdict === 'deny' && o.trace.policy !== null)).toBeGreaterThan(10);
    expect(seen((o) => o.trace.from.segment === 'quarantine')).toBeGreaterThan(3);
    expect(seen((o) => o.trace.from.segment === 'printers' && o.trace.verdict === 'allow')).toBeGreaterThan(0);
    expect(seen((o) => !v4(o.probe.src) && o.trace.verdict === 'allow')).toBeGreaterThan(5);
    expect(mismatches(outcomes, naiveOracle(docs, ['cam-99']))).toEqual([]);
  });
});

describe('trace and datapath agree where two spellings are one datapath key', () => {
  // 192.168.50.0/24 and ::ffff:192.168.50.0/120 (and 10.9.0.7 and ::ffff:10.9.0.7) are one key of
  // the kernel's ipcache. Two rows for it made trace keep the first and the kernel the last written.
  test('trace_corpus_3_ipv4_mapped_spellings_of_one_prefix', async () => {
    const docs = parseDocuments(`
apiVersion: cordon/v1
kind: Segment
metadata: { name: plain }
spec: { cidrs: [192.168.50.0/24, 10.9.0.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: zz-mapped }
spec: { cidrs: ["::ffff:192.168.50.0/120"], selector: { kind: mapped } }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: a-dev }
spec: { addresses: [10.9.0.7] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: b-dev, labels: { kind: mapped } }
spec: { addresses: ["::ffff:10.9.0.7"] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: in }
spec: { from: [world], to: [plain], allow: [{ protocol: tcp, ports: ["80"] }] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: in-mapped }
spec: { from: [world], to: [zz-mapped], allow: [{ protocol: tcp, ports: ["81"] }] }
`);
    const probes: Probe[] = [];
    for (const dst of ['192.168.50.10', '10.9.0.7']) for (const port of [80, 81]) probes.push({ src: '203.0.113.9', dst, protocol: 'tcp', port });
    for (const dst of ['::ffff:192.168.50.10', '::ffff:10.9.0.7']) for (const port of [80, 81]) probes.push({ src: '::ffff:203.0.113.9', dst, protocol: 'tcp', port });
    const outcomes = await run(docs, probes, new Map());
    expect(outcomes.map((o) => `${o.probe.dst}/${o.probe.port} ${o.trace.verdict} ${o.trace.to.segment}`)).toEqual([
      '192.168.50.10/80 allow plain',
      '192.168.50.10/81 deny plain',
      '10.9.0.7/80 allow plain',
      '10.9.0.7/81 deny plain',
      '::ffff:192.168.50.10/80 allow plain',
      '::ffff:192.168.50.10/81 deny plain',
      '::ffff:10.9.0.7/80 allow plain',
      '::ffff:10.9.0.7/81 deny plain',
    ]);
    expect(mismatches(outcomes, naiveOracle(docs, []))).toEqual([]);
  });
});

describe('known disagreement: ICMP flows keyed by echo id and by type/code alike', () => {
  // An ICMP echo's flow key carries its id where any other ICMP message carries
  // type << 8 | code: an allowed echo with id 0x0d00 once opened a flow that a timestamp
  // request (type 13, code 0) between the same hosts then hit on the fast path. The key's
  // kind now keeps them apart.
  test('trace_corpus_4_icmp_message_after_echo_with_matching_id', async () => {
    const docs = parseDocuments(`
apiVersion: cordon/v1
kind: Segment
metadata: { name: a }
spec: { cidrs: [10.1.0.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: b }
spec: { cidrs: [10.2.0.0/24] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: ping-only }
spec: { from: [a], to: [b], allow: [{ protocol: icmp, types: [echo-request] }] }
`);
    const bundle = compile(docs, { identities: {}, generation: ++generation });
    const dp = await freshDatapath();
    await dp.applyGeneration({ generation: bundle.generation, ipcache: bundle.ipcache, policy: bundle.policy });
    const index = new BundleIndex(bundle, docs);
    const send = async (type: number, code: number, id: number) => (await dp.testRun(packet({ src: '10.1.0.5', dst: '10.2.0.5', protocol: 'icmp', icmpType: type, icmpCode: code, icmpId: id }))).passed;
    expect(index.trace({ from: '10.1.0.5', to: '10.2.0.5', protocol: 'icmp', type: 13, code: 0 }).verdict).toBe('deny');
    expect(await send(13, 0, 1)).toBe(false);
    expect(await send(8, 0, 0x0d00)).toBe(true);
    expect(await send(13, 0, 1)).toBe(false); // passes today
  });
});

// ---- corpus 2: random policies over nested segments ---------------------------------------

const RSEGS = ['a', 'b', 'c', 'd'];
const RCIDRS: Record<string, string[]> = {
  a: ['10.1.0.0/16', 'fd00:1::/48'],
  b: ['10.1.2.0/24', 'fd00:1:0:2::/64'], // inside a
  c: ['10.2.0.0/16'],
  d: ['10.1.2.128/25'], // inside b
};
const RDEVICES: { name: string; address: string; labels?: Record<string, string>; mac?: string }[] = [
  { name: 'dev-b-in-a', address: '10.1.0.9', labels: { seg: 'b' } }, // selected by b, outside b's CIDRs: joins b
  { name: 'dev-c-in-d', address: '10.1.2.200', labels: { seg: 'c' }, mac: '02:00:00:00:0c:01' },
  { name: 'dev-plain', address: '10.1.2.130' }, // in d by longest prefix
  { name: 'dev-v6', address: 'fd00:1:0:2::9', labels: { seg: 'a' } },
];
const RV4 = ['10.1.0.1', '10.1.0.9', '10.1.2.1', '10.1.2.130', '10.1.2.200', '10.1.2.250', '10.2.0.1', '10.2.9.9', '198.51.100.7'];
const RV6 = ['fd00:1::1', 'fd00:1:0:2::1', 'fd00:1:0:2::9', '2001:db8::7'];

const rPort = fc.oneof(
  fc.integer({ min: 0, max: 70 }),
  fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 40 })).map(([a, l]) => `${a}-${a + l}`),
  fc.constantFrom('0-65535', '1-65535', '0-32767', '32-63', '64'),
);
const rRule: fc.Arbitrary<Rule> = fc.oneof(
  fc.constant({ protocol: 'any' as const }),
  fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const) }),
  fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const), ports: fc.array(rPort, { minLength: 1, maxLength: 3 }) }),
  fc.record({ protocol: fc.constant('icmp' as const), types: fc.array(fc.constantFrom('echo-request', 'echo-reply', 3, 11, 0), { minLength: 1, maxLength: 2 }) }),
  fc.record({ protocol: fc.constant('icmpv6' as const), types: fc.array(fc.constantFrom('echo-request', 'echo-reply', 1, 2), { minLength: 1, maxLength: 2 }) }),
  fc.record({ protocol: fc.constantFrom('icmp' as const, 'icmpv6' as const) }),
  fc.constant({ protocol: 47 }),
  fc.constant({ protocol: 0 }),
);
const rPolicy = fc.record({
  from: fc.subarray([...RSEGS, 'world', 'quarantine'], { minLength: 1, maxLength: 3 }),
  to: fc.subarray([...RSEGS, 'world'], { minLength: 1, maxLength: 3 }),
  allow: fc.array(rRule, { maxLength: 3 }),
  deny: fc.array(rRule, { maxLength: 2 }),
  audit: fc.boolean(),
});
const rProbe: fc.Arbitrary<Probe> = fc.oneof(
  fc.record({ fam: fc.constant(4), src: fc.constantFrom(...RV4), dst: fc.constantFrom(...RV4) }),
  fc.record({ fam: fc.constant(6), src: fc.constantFrom(...RV6), dst: fc.constantFrom(...RV6) }),
).chain(({ fam, src, dst }) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ src: fc.constant(src), dst: fc.constant(dst), protocol: fc.constantFrom('tcp' as const, 'udp' as const), port: fc.oneof(fc.integer({ min: 0, max: 115 }), fc.constantFrom(32767, 32768, 39999, 65535)) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        src: fc.constant(src),
        dst: fc.constant(dst),
        protocol: fc.constant(fam === 4 ? ('icmp' as const) : ('icmpv6' as const)),
        type: fam === 4 ? fc.constantFrom(0, 3, 8, 11, 12) : fc.constantFrom(1, 2, 4, 128, 129),
        code: fc.constantFrom(0, 1),
      }),
    },
    { weight: 1, arbitrary: fc.record({ src: fc.constant(src), dst: fc.constant(dst), protocol: fam === 4 ? fc.constantFrom(0, 47, 50) : fc.constantFrom(47, 50) }) },
  ),
);

describe('trace and datapath agree on random policies', () => {
  test('trace_corpus_2_random_policies_precedence', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rPolicy, { minLength: 1, maxLength: 7 }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        fc.boolean(),
        fc.array(rProbe, { minLength: 120, maxLength: 120 }),
        async (ps, audits, quarantine, probes) => {
          const docs: Document[] = RSEGS.map(
            (name, i): Segment => ({
              apiVersion: 'cordon/v1',
              kind: 'Segment',
              metadata: { name },
              spec: { cidrs: RCIDRS[name], selector: { seg: name }, mode: audits[i] ? 'audit' : 'enforce', onAnomaly: 'alert' },
            }),
          );
          for (const d of RDEVICES) {
            const dev: Device = { apiVersion: 'cordon/v1', kind: 'Device', metadata: d.labels ? { name: d.name, labels: d.labels } : { name: d.name }, spec: d.mac ? { addresses: [d.address], mac: d.mac } : { addresses: [d.address] } };
            docs.push(dev);
          }
          ps.forEach((p, i) => {
            if (p.allow.length + p.deny.length === 0) return;
            const pol: Policy = {
              apiVersion: 'cordon/v1',
              kind: 'Policy',
              metadata: { name: `p${i}` },
              spec: { from: p.from, to: p.to, ...(p.allow.length ? { allow: p.allow } : {}), ...(p.deny.length ? { deny: p.deny } : {}), mode: p.audit ? 'audit' : 'enforce' },
            };
            docs.push(pol);
          });
          const macs = new Map(RDEVICES.filter((d) => d.mac).map((d) => [canon(d.address), d.mac!]));
          const outcomes = await run(docs, probes, macs, quarantine ? ['dev-plain'] : []);
          const bundle = compile(docs, { identities: {}, generation, quarantined: quarantine ? ['dev-plain'] : [] });
          const entries = (s: number, d: number) =>
            JSON.stringify(bundle.policy.filter((e) => e.srcIdentity === s && e.dstIdentity === d).map((e) => [e.protocol, e.port, e.portPrefixLen, e.verdict, e.ruleId]));
          const bad = mismatches(outcomes, naiveOracle(docs, quarantine ? ['dev-plain'] : []), entries);
          if (bad.length) throw new Error(`${bad.length} of ${outcomes.length} packets disagree:\n${bad.slice(0, 10).join('\n')}\npolicies: ${JSON.stringify(docs.filter((d) => d.kind === 'Policy').map((d) => d.spec))}`);
        },
      ),
      // Each run loads a fresh program (about half a second): a failure is reported unshrunk, with its packets
      // and entries. TRACE_CORPUS_RUNS=300 for a longer soak.
      { numRuns: Number(process.env.TRACE_CORPUS_RUNS ?? 30), endOnFailure: true },
    );
  }, 240_000);
});
