// SPDX-License-Identifier: Apache-2.0
/**
 * The failsafe set (DESIGN.md "Fail closed, with a way back in"): what keeps a
 * gateway manageable while everything else is default deny, written into every
 * generation the enforcer applies, and alone into the one it applies before
 * its first bundle.
 *
 * It is expressed in the datapath's own ABI: policy entries between identities
 * (the datapath keys policy on identities and the destination port only) and
 * two ipcache host routes. Each entry is as narrow as that allows:
 *
 *  - control: `host` -> the identity the bundle gives the controller's address,
 *    tcp to the controller's port. The enforcer opens the connection from this
 *    host, so its packets are judged on egress; the replies ride the
 *    connection's flow entry (the datapath is stateful), and a new generation
 *    re-judges it against this same entry. The controller's address keeps the
 *    identity the bundle gives it, so no other traffic to it changes verdict.
 *  - dhcp: every source identity -> `host`, udp 67 (discover/request, and a
 *    server's answer to this host as a relay); `host` -> every identity, udp
 *    68 (offers and acks to a client, unicast to the offered address or
 *    broadcast) and udp 67 (relayed requests); the same for DHCPv6 (547/546).
 *    A client without an address sends from 0.0.0.0 (not in any segment:
 *    `world`) to 255.255.255.255; the limited broadcast (and ff02::1:2, all
 *    DHCPv6 agents on the link) is never forwarded, so it is mapped to `host`,
 *    which it is: only this host (and the link) receives it. So nothing sent
 *    from a device to udp 67 passes unless this host is its destination.
 *  - dns: every source identity -> `host`, udp and tcp 53.
 *  - PROTO:PORT[-PORT]: every source identity -> `host` on those ports.
 *
 * "Every source identity" is world, host and each identity the generation
 * knows, except quarantine: a quarantined device stays cut off. ARP and
 * neighbour discovery pass in the datapath itself. The failsafe entries
 * replace bundle entries with the very same key, and being one port each they
 * are the longest match: the failsafe wins over site policy (`--failsafe
 * none` is how an operator says otherwise).
 */
import { isIP } from 'node:net';
import { IDENTITY, type IpcacheEntry, type PolicyEntry, LIMITS, VERDICT } from '../../../native/lib/abi';
import { addressBytes } from '../../../native/lib/encode';
import { rangeToBlocks } from '../../controller/src/compiler/ports';
import { withHostEntries } from './host-addresses';

export const FAILSAFE_SERVICES = ['control', 'dhcp', 'dns'] as const;
export type FailsafeService = (typeof FAILSAFE_SERVICES)[number];

/** What `--failsafe` holds when not given. */
export const FAILSAFE_DEFAULTS: readonly FailsafeService[] = FAILSAFE_SERVICES;

export interface FailsafePorts {
  protocol: 'tcp' | 'udp';
  lo: number;
  hi: number;
}

export interface FailsafeSpec {
  services: FailsafeService[];
  ports: FailsafePorts[];
}

/**
 * Rule ids of the failsafe entries, at the top of the datapath's rule range
 * (rule ids are < LIMITS.RULES) so their counters stay apart from the site's.
 */
export const FAILSAFE_RULE = {
  control: LIMITS.RULES - 1,
  dhcp: LIMITS.RULES - 2,
  dns: LIMITS.RULES - 3,
  ports: LIMITS.RULES - 4,
} as const;

const PROTO = { tcp: 6, udp: 17 } as const;

/** Link-scope destinations only this host receives (see the file comment), mapped to `host` with dhcp. */
export const LINK_SCOPE_TO_HOST = ['255.255.255.255/32', 'ff02::1:2/128'] as const;

/**
 * `--failsafe` values: none of them gives the defaults; `none` removes the
 * defaults; control, dhcp, dns and PROTO:PORT[-PORT] add to what is left.
 */
export function parseFailsafe(values: readonly string[]): { spec: FailsafeSpec; problems: string[] } {
  const problems: string[] = [];
  const none = values.some((v) => v.trim().toLowerCase() === 'none');
  const services = new Set<FailsafeService>(none ? [] : FAILSAFE_DEFAULTS);
  const ports: FailsafePorts[] = [];
  for (const raw of values) {
    const v = raw.trim().toLowerCase();
    if (v === 'none') continue;
    if ((FAILSAFE_SERVICES as readonly string[]).includes(v)) {
      services.add(v as FailsafeService);
      continue;
    }
    const m = /^(tcp|udp):(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
    const lo = m ? Number(m[2]) : NaN;
    const hi = m ? Number(m[3] ?? m[2]) : NaN;
    if (!m || lo < 1 || hi > 65535 || lo > hi) {
      problems.push(`--failsafe "${raw}" must be none, ${FAILSAFE_SERVICES.join(', ')} or PROTO:PORT[-PORT] with PROTO tcp or udp and ports 1-65535 (for example tcp:22)`);
      continue;
    }
    ports.push({ protocol: m[1] as 'tcp' | 'udp', lo, hi });
  }
  return { spec: { services: FAILSAFE_SERVICES.filter((s) => services.has(s)), ports }, problems };
}

/** The spec as `--failsafe` values would say it (for logs). */
export function describeFailsafe(spec: FailsafeSpec): string {
  const parts = [...spec.services, ...spec.ports.map((p) => `${p.protocol}:${p.lo === p.hi ? p.lo : `${p.lo}-${p.hi}`}`)];
  return parts.length ? parts.join(', ') : 'none';
}

export interface FailsafeContext {
  /** This host's addresses (the `host` identity). */
  hostAddresses: readonly string[];
  /** Each controller's addresses (resolved) and gRPC port: the control channel (every --controller). */
  controllers: readonly { addresses: readonly string[]; port: number }[];
}

export interface GenerationEntries {
  ipcache: readonly IpcacheEntry[];
  policy: readonly PolicyEntry[];
  /** Segment name -> identity (the bundle's), for the source identities beyond those in the ipcache. */
  identities?: Readonly<Record<string, number>>;
}

/** A policy entry's key in the datapath (what two entries must share to be one map slot). */
function policyKey(e: PolicyEntry): string {
  if (e.protocol === null) return `${e.srcIdentity}/${e.dstIdentity}/*`;
  const plen = e.portPrefixLen ?? 0;
  const mask = plen === 0 ? 0 : (0xffff << (16 - plen)) & 0xffff;
  return `${e.srcIdentity}/${e.dstIdentity}/${e.protocol}/${plen}/${(e.port ?? 0) & mask}`;
}

/** The most specific ipcache entry holding `addr`; undefined: world. */
export function identityOf(ipcache: readonly IpcacheEntry[], addr: string): number {
  const want = addressBytes(addr);
  const v4 = isIP(addr) === 4;
  let best = -1;
  let identity: number = IDENTITY.WORLD;
  for (const e of ipcache) {
    const [a, lenText] = e.cidr.split('/');
    const fam = isIP(a);
    if (fam === 0 || (fam === 4) !== v4) continue;
    const len = (lenText === undefined ? (v4 ? 32 : 128) : Number(lenText)) + (v4 ? 96 : 0);
    if (len <= best) continue;
    const have = addressBytes(a);
    let ok = true;
    for (let bit = 0; bit < len && ok; bit += 8) {
      const n = Math.min(8, len - bit);
      const mask = (0xff << (8 - n)) & 0xff;
      ok = (have[bit >> 3] & mask) === (want[bit >> 3] & mask);
    }
    if (ok) {
      best = len;
      identity = e.identity;
    }
  }
  return identity;
}

/** The identities a generation knows, world and host included, quarantine excluded. */
function knownIdentities(g: GenerationEntries, ipcache: readonly IpcacheEntry[]): number[] {
  const ids = new Set<number>([IDENTITY.WORLD, IDENTITY.HOST]);
  for (const e of ipcache) ids.add(e.identity);
  for (const id of Object.values(g.identities ?? {})) ids.add(id);
  ids.delete(IDENTITY.QUARANTINE);
  ids.delete(IDENTITY.UNKNOWN);
  return [...ids].sort((a, b) => a - b);
}

const allow = (srcIdentity: number, dstIdentity: number, protocol: number, port: number, portPrefixLen: number, ruleId: number): PolicyEntry => ({
  srcIdentity,
  dstIdentity,
  protocol,
  port,
  portPrefixLen,
  verdict: VERDICT.ALLOW,
  ruleId,
});

/** The failsafe's policy entries for a generation whose (host-augmented) ipcache is `ipcache`. */
export function failsafePolicy(spec: FailsafeSpec, ctx: FailsafeContext, g: GenerationEntries, ipcache: readonly IpcacheEntry[]): PolicyEntry[] {
  const ids = knownIdentities(g, ipcache);
  const out: PolicyEntry[] = [];
  const toHost = (protocol: number, port: number, plen: number, rule: number) => {
    for (const src of ids) out.push(allow(src, IDENTITY.HOST, protocol, port, plen, rule));
  };
  const fromHost = (protocol: number, port: number, rule: number) => {
    for (const dst of ids) out.push(allow(IDENTITY.HOST, dst, protocol, port, 16, rule));
  };
  if (spec.services.includes('control')) {
    const seen = new Set<string>();
    for (const c of ctx.controllers) {
      for (const a of c.addresses) {
        const dst = identityOf(ipcache, a);
        const key = `${dst}:${c.port}`;
        if (dst === IDENTITY.QUARANTINE || seen.has(key)) continue;
        seen.add(key);
        out.push(allow(IDENTITY.HOST, dst, PROTO.tcp, c.port, 16, FAILSAFE_RULE.control));
      }
    }
  }
  if (spec.services.includes('dhcp')) {
    for (const port of [67, 547]) toHost(PROTO.udp, port, 16, FAILSAFE_RULE.dhcp);
    for (const port of [68, 546, 67, 547]) fromHost(PROTO.udp, port, FAILSAFE_RULE.dhcp);
  }
  if (spec.services.includes('dns')) {
    toHost(PROTO.udp, 53, 16, FAILSAFE_RULE.dns);
    toHost(PROTO.tcp, 53, 16, FAILSAFE_RULE.dns);
  }
  for (const p of spec.ports) {
    for (const b of rangeToBlocks(p.lo, p.hi)) toHost(PROTO[p.protocol], b.value, b.prefixLen, FAILSAFE_RULE.ports);
  }
  // One entry per datapath key (host -> host udp 67 is both "to host" and "from host"; a port may be given twice).
  return [...new Map(out.map((e) => [policyKey(e), e] as const)).values()];
}

/**
 * A generation as the datapath gets it: the bundle's entries, this host's
 * addresses as `host`, and the failsafe set (its entries replacing any of the
 * bundle's with the same key).
 */
export function withFailsafe(g: GenerationEntries, spec: FailsafeSpec, ctx: FailsafeContext): { ipcache: IpcacheEntry[]; policy: PolicyEntry[] } {
  let ipcache = withHostEntries(g.ipcache, ctx.hostAddresses);
  if (spec.services.includes('dhcp')) {
    const taken = new Set<string>(LINK_SCOPE_TO_HOST);
    ipcache = [...ipcache.filter((e) => !taken.has(e.cidr)), ...LINK_SCOPE_TO_HOST.map((cidr) => ({ cidr, identity: IDENTITY.HOST }))];
  }
  const extra = failsafePolicy(spec, ctx, g, ipcache);
  if (extra.length === 0) return { ipcache, policy: [...g.policy] };
  const keys = new Set(extra.map(policyKey));
  return { ipcache, policy: [...g.policy.filter((e) => !keys.has(policyKey(e))), ...extra] };
}
