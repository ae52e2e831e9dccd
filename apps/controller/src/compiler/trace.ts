/**
 * What the datapath decides for the first packet of a flow, computed from the
 * bundle's own entries with the same two lookups the eBPF program makes:
 *   1. longest-prefix match of each address in the ipcache (no match: world);
 *   2. longest-prefix match of (src id, dst id, protocol, port) in the policy
 *      entries (no match: the default deny, rule 0);
 *   3. a deny whose source or destination ipcache entry has the audit flag is
 *      reported as audit (the segment is in audit mode).
 */
import { IDENTITY, IpcacheEntry, PolicyEntry, VERDICT } from '../../../../native/lib/abi';
import { Address, firstUsable, formatAddress, isV4MappedV6, MASKS, parseAddress, parseCidr, PrefixIndex } from '../policy/net';
import { icmpType, isIcmp, protocolLabel, protocolNumber } from '../policy/protocols';
import { Device, Document, PolicyTest, Segment, testTargetText } from '../policy/schema';
import type { Bundle, RuleInfo } from '../../../../model/generation/bundle';
import { entryInnerKey, innerKey, portMask } from '../../../../model/generation/keys';
import { IdentityNames } from '../../../../model/generation/names';
import { icmpValue } from './ports';
import { gatePolicy } from '../../../../model/schedule/gate';
import { judgeName, traceNameError, type TraceName } from './trace-fqdn';

export type Verdict = 'allow' | 'deny' | 'audit';

export interface TraceQuery {
  /** An address, a device name or a segment name. */
  from: string;
  /** The same, or a DNS name; `{ fqdn: NAME }` is always a DNS name (a PolicyTest's explicit form). */
  to: string | { fqdn: string };
  protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number;
  /** tcp/udp destination port; omitted: a port that no port-specific entry names. */
  port?: number;
  /** icmp/icmpv6 type (name or number); omitted: a type no type-specific entry names. */
  type?: number | string;
  code?: number;
}

export interface TraceEndpoint {
  address: string;
  segment: string;
  device: string | null;
  identity: number;
}

export interface TraceResult {
  verdict: Verdict;
  /** The deciding policy, or null for the default deny. */
  policy: string | null;
  ruleId: number;
  /** The deciding rule (action, index, mode), or null for the default deny. */
  rule: RuleInfo | null;
  from: TraceEndpoint;
  to: TraceEndpoint;
  /** The packet traced, e.g. `10.0.0.1 -> 10.0.0.2 tcp/8883`. */
  packet: string;
  /**
   * Set when the datapath drops the packet before any policy: an IPv6 packet between
   * an IPv4-mapped address (::ffff:a.b.c.d) and a real IPv6 one is malformed.
   */
  reason?: 'malformed';
  /** Set when `to` was a DNS name: the fqdn pattern that decided, or why none did (trace-fqdn.ts). */
  name?: TraceName;
}

/** Lookup structures over one bundle's entries (built once per bundle and document set). */
export class BundleIndex {
  private readonly ipcache = new PrefixIndex<IpcacheEntry>();
  private readonly policy = new Map<string, Map<number, PolicyEntry>>();
  private readonly rules = new Map<number, RuleInfo>();
  private readonly names: IdentityNames;
  private readonly deviceByAddress = new Map<string, string>();
  private readonly devices = new Map<string, Device>();
  private readonly segments = new Map<string, Segment>();

  constructor(readonly bundle: Bundle, docs: readonly Document[]) {
    for (const e of bundle.ipcache) this.ipcache.add(parseCidr(e.cidr), e);
    for (const e of bundle.policy) {
      const pk = `${e.srcIdentity}/${e.dstIdentity}`;
      let m = this.policy.get(pk);
      if (!m) this.policy.set(pk, (m = new Map()));
      m.set(entryInnerKey(e), e);
    }
    for (const r of bundle.rules) this.rules.set(r.ruleId, r);
    this.names = new IdentityNames(bundle.identities);
    for (const d of docs) {
      if (d.kind === 'Device') {
        this.devices.set(d.metadata.name, d);
        for (const a of d.spec.addresses) {
          const addr = parseAddress(a);
          if (addr) this.deviceByAddress.set(formatAddress(addr), d.metadata.name);
        }
      } else if (d.kind === 'Segment') {
        this.segments.set(d.metadata.name, d);
      }
    }
  }

  /** Step 1: the ipcache entry of an address (undefined: world). */
  lookupAddress(a: Address): IpcacheEntry | undefined {
    return this.ipcache.lookup(a.value);
  }

  /** Step 2: the longest policy entry matching; port undefined skips port-specific entries. */
  lookupPolicy(src: number, dst: number, proto: number, port: number | undefined): PolicyEntry | undefined {
    const m = this.policy.get(`${src}/${dst}`);
    if (!m) return undefined;
    if (port !== undefined) {
      for (let n = 16; n >= 1; n--) {
        const e = m.get(innerKey(80 + n, proto, port & portMask(n)));
        if (e) return e;
      }
    }
    return m.get(innerKey(72, proto, 0)) ?? m.get(innerKey(64, 0, 0));
  }

  endpoint(a: Address): TraceEndpoint {
    const e = this.lookupAddress(a);
    const identity = e?.identity ?? IDENTITY.WORLD;
    const address = formatAddress(a);
    return { address, identity, segment: this.names.nameOf(identity) ?? String(identity), device: this.deviceByAddress.get(address) ?? null };
  }

  /** Candidate addresses for a name: an address, a device, or a segment (its CIDRs' first usable addresses, then its devices). */
  candidates(name: string): Address[] {
    const addr = parseAddress(name);
    if (addr) return [addr];
    const dev = this.devices.get(name);
    if (dev) return dev.spec.addresses.map((a) => parseAddress(a)).filter((a): a is Address => a !== null);
    const id = Object.hasOwn(this.bundle.identities, name) ? this.bundle.identities[name] : undefined;
    if (id === undefined) throw new Error(`${name} is not an address, a device or a segment`);
    const out: Address[] = [];
    const belongs = (a: Address) => (this.lookupAddress(a)?.identity ?? IDENTITY.WORLD) === id;
    if (id === IDENTITY.WORLD) {
      for (const t of ['203.0.113.1', '198.51.100.1', '192.0.2.1', '8.8.8.8', '2001:db8::1', '2001:4860:4860::8888']) {
        const a = parseAddress(t)!;
        if (belongs(a)) out.push(a);
      }
    }
    for (const c of this.segments.get(name)?.spec.cidrs ?? []) {
      // The first usable address may be a device of another segment: walk on a little.
      const p = parseCidr(c);
      let a = firstUsable(p);
      for (let i = 0; i < 64 && (a.value & MASKS[p.len]) === p.value; i++, a = { family: a.family, value: a.value + 1n }) {
        if (belongs(a)) {
          out.push(a);
          break;
        }
      }
    }
    for (const e of this.bundle.ipcache) {
      if (e.identity !== id) continue;
      const p = parseCidr(e.cidr);
      if (p.len === 128) out.push(p);
    }
    if (out.length === 0) throw new Error(`segment ${name} has no address to trace from (no CIDR and no device)`);
    return out;
  }

  trace(q: TraceQuery): TraceResult {
    const froms = this.candidates(q.from);
    const toText = typeof q.to === 'string' ? q.to : q.to.fqdn;
    const named = typeof q.to === 'string' ? this.isName(q.to) : this.checkedName(q.to.fqdn);
    const tos = this.candidates(named ? 'world' : toText);
    const proto = protocolNumber(q.protocol) as number;
    // ICMP runs over IPv4 and ICMPv6 over IPv6 only (the datapath drops either on
    // the other family as malformed), so a name resolves to the family the protocol needs.
    const family = proto === 1 ? 4 : proto === 58 ? 6 : undefined;
    let pair: [Address, Address] | undefined;
    for (const f of froms) {
      if (family !== undefined && f.family !== family) continue;
      const t = tos.find((x) => x.family === f.family);
      if (t) {
        pair = [f, t];
        break;
      }
    }
    if (!pair && family !== undefined) throw new Error(`${protocolLabel(proto)} runs over IPv${family} only, and ${q.from} and ${toText} share no IPv${family} address`);
    if (!pair) throw new Error(`${q.from} and ${toText} share no address family`);
    const [fa, ta] = pair;

    let port: number | undefined;
    let portText = '';
    if (isIcmp(proto)) {
      if (q.type !== undefined) {
        const t = icmpType(proto, q.type);
        if (t === null) throw new Error(`${q.type} is not an ${protocolLabel(proto)} type`);
        port = icmpValue(t, q.code ?? 0);
        portText = ` type ${t} code ${q.code ?? 0}`;
      }
    } else if (q.port !== undefined) {
      port = q.port;
      portText = `/${q.port}`;
    }

    const from = this.endpoint(fa);
    const to = this.endpoint(ta);
    const srcEntry = this.lookupAddress(fa);
    const dstEntry = this.lookupAddress(ta);
    const judged = named ? judgeName(this.bundle, toText, (dst) => this.lookupPolicy(from.identity, dst, proto, port), to.identity) : undefined;
    const hit = judged ? judged.hit : this.lookupPolicy(from.identity, to.identity, proto, port);
    let verdict: Verdict = !hit || hit.verdict === VERDICT.DENY ? 'deny' : hit.verdict === VERDICT.AUDIT ? 'audit' : 'allow';
    if (verdict === 'deny' && (srcEntry?.audit || dstEntry?.audit)) verdict = 'audit';
    const packet = `${from.address} -> ${to.address} ${protocolLabel(proto)}${portText}`;
    // Both ends ::ffff:a.b.c.d name IPv4 hosts (one ipcache key with a.b.c.d): an IPv4 packet. One
    // mapped end beside a real IPv6 one can only be an IPv6 packet, which the datapath drops as malformed.
    if (isV4MappedV6(fa) !== isV4MappedV6(ta)) return { verdict: 'deny', policy: null, ruleId: 0, rule: null, from, to, packet, reason: 'malformed' };
    const rule = hit ? (this.rules.get(hit.ruleId) ?? null) : null;
    return {
      verdict,
      policy: rule?.policy ?? null,
      ruleId: hit?.ruleId ?? 0,
      rule,
      from,
      to,
      packet,
      ...(judged ? { name: judged.info } : {}),
    };
  }

  /** A `to` that is no address, device or segment but a DNS name; a bad name gets the pattern error. */
  private isName(to: string): boolean {
    if (parseAddress(to) || this.devices.has(to) || Object.hasOwn(this.bundle.identities, to)) return false;
    if (!to.includes('.')) return false;
    const err = traceNameError(to);
    if (err) throw new Error(`${to} is not an address, a device, a segment or a DNS name: ${err}`);
    return true;
  }

  /** A `to` given as `{ fqdn }`: a DNS name whatever else it might look like; a bad one gets the pattern error. */
  private checkedName(fqdn: string): true {
    const err = traceNameError(fqdn);
    if (err) throw new Error(`{ fqdn: ${fqdn} } is not a DNS name: ${err}`);
    return true;
  }
}

/** The bundle as the datapath holds it at instant t: scheduled allows only while their schedule is open. */
export function bundleAt(bundle: Bundle, t: number): Bundle {
  if (!bundle.rules.some((r) => r.schedule)) return bundle;
  return { ...bundle, policy: [...gatePolicy(bundle.policy, bundle.rules, t).policy] };
}

export function trace(bundle: Bundle, docs: readonly Document[], q: TraceQuery): TraceResult {
  return new BundleIndex(bundle, docs).trace(q);
}

export interface PolicyTestFailure {
  test: string;
  index: number;
  from: string;
  to: string;
  packet: string;
  expected: Verdict;
  /** The verdict found, or 'error' when the case could not be traced (see `error`). */
  got: Verdict | 'error';
  policy: string | null;
  error?: string;
}

/** Runs every case of every PolicyTest in docs against the bundle; lists every failure. */
export function runPolicyTests(bundle: Bundle, docs: readonly Document[]): { failures: PolicyTestFailure[]; passed: number } {
  const always = new BundleIndex(bundle, docs);
  /** Cases with `at` judge the bundle with the schedules as they are then (one index per instant). */
  const atIndex = new Map<string, BundleIndex>();
  const indexFor = (at: string | undefined) => {
    if (at === undefined) return always;
    let ix = atIndex.get(at);
    if (!ix) atIndex.set(at, (ix = new BundleIndex(bundleAt(bundle, Date.parse(at)), docs)));
    return ix;
  };
  const failures: PolicyTestFailure[] = [];
  let passed = 0;
  const tests = docs.filter((d): d is PolicyTest => d.kind === 'PolicyTest');
  for (const t of tests) {
    t.spec.forEach((c, i) => {
      const to = testTargetText(c.to);
      const describe = () =>
        `${c.from} -> ${to} ${protocolLabel(protocolNumber(c.protocol))}${c.port !== undefined ? `/${c.port}` : ''}${c.type !== undefined ? ` type ${c.type}` : ''}`;
      try {
        const r = indexFor(c.at).trace(c);
        if (r.verdict === c.expect) {
          passed++;
          return;
        }
        failures.push({ test: t.metadata.name, index: i, from: c.from, to, packet: r.packet, expected: c.expect, got: r.verdict, policy: r.policy });
      } catch (e) {
        failures.push({ test: t.metadata.name, index: i, from: c.from, to, packet: describe(), expected: c.expect, got: 'error', policy: null, error: (e as Error).message });
      }
    });
  }
  return { failures, passed };
}
