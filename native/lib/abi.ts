// SPDX-License-Identifier: Apache-2.0
/**
 * The kernel ABI of bpf/cordon.h, seen from TypeScript: its codes, flags and
 * limits, and the byte layout of every struct user space writes or reads.
 * This file is the only TypeScript statement of the header: everything else
 * (the facade's decoders, the enforcer's flow collector, the wire's reason
 * names) derives from it. test/abi/header-drift.test.ts compiles a program
 * against bpf/cordon.h and fails on any difference: a value, an offset, a
 * size, a field or a code that one side has and the other has not.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** CORDON_ID_*: reserved identities; segments get ids from FIRST_USER upwards. */
export const IDENTITY = {
  UNKNOWN: 0,
  WORLD: 1,
  HOST: 2,
  QUARANTINE: 3,
  FIRST_USER: 256,
} as const;

/** CORDON_VERDICT_*. */
export const VERDICT = { NONE: 0, ALLOW: 1, DENY: 2, AUDIT: 3 } as const;
export type VerdictCode = (typeof VERDICT)[keyof typeof VERDICT];
export type VerdictName = Lowercase<keyof typeof VERDICT>;
export const VERDICT_NAME: Record<number, VerdictName> = namesOf(VERDICT);

/** CORDON_REASON_* (CORDON_REASON_MAX is REASON_COUNT). */
export const REASON = {
  NONE: 0,
  POLICY: 1,
  SPOOFED: 2,
  MALFORMED: 3,
  FRAGMENT: 4,
  NO_CONNECTION: 5,
  PLAINTEXT: 6,
  FLOW_BUDGET: 7,
} as const;
export type ReasonName = Lowercase<keyof typeof REASON>;
/** Reason codes are below this (the reason counters' array has this many entries). */
export const REASON_COUNT = 8;
export const REASON_NAME: Record<number, ReasonName> = namesOf(REASON);
/** The names of the reasons a packet is dropped for (every reason but none): metric label values. */
export const DROP_REASON_NAMES: readonly ReasonName[] = Object.values(REASON_NAME).filter((r) => r !== 'none');

/** CORDON_ENC_*, by code: classes of a flow's first payload (cordon_flow_value.encryption). */
export const ENCRYPTION_NAME = ['pending', 'tls', 'dtls', 'ssh', 'quic', 'plaintext', 'mqtt', 'http', 'coap'] as const;
export type EncryptionClass = (typeof ENCRYPTION_NAME)[number];
/** Classes that are traffic in clear (CORDON_ENC_FIRST_PLAINTEXT and after). */
export const PLAINTEXT_CLASSES: readonly EncryptionClass[] = ['plaintext', 'mqtt', 'http', 'coap'];
/** Classes that are encrypted (after pending, before CORDON_ENC_FIRST_PLAINTEXT). */
export const ENCRYPTED_CLASSES = ['tls', 'dtls', 'ssh', 'quic'] as const satisfies readonly EncryptionClass[];

/** CORDON_MAX_*: entries each map holds. */
export const LIMITS = {
  IPCACHE: 262144,
  POLICY: 524288,
  POLICY_MASKS: 262144,
  RULES: 262144,
  FLOWS: 262144,
  FRAGS: 16384,
  PAIRS: 65536,
  BUDGETS: 65536,
} as const;

/** CORDON_IPC_F_*, CORDON_POL_F_*, CORDON_STATE_F_*, CORDON_FLOW_F_*, CORDON_TCP_*, CORDON_ENC_S_*. */
export const IPC_FLAG = { AUDIT: 0x1, MAC: 0x2, ROUTER: 0x4 } as const;
export const POLICY_FLAG = { ENCRYPT_REQUIRED: 0x1 } as const;
export const STATE_FLAG = { AUDIT_ALL: 0x1, LINK_LOCAL_DROP: 0x2 } as const;
export const FLOW_FLAG = { SRC_MAC: 0x1, DST_MAC: 0x2, SRC_AUDIT: 0x4, DST_AUDIT: 0x8, ENCRYPT_REQUIRED: 0x10 } as const;
export const TCP_FLAG = { SYN_FWD: 0x01, SYN_REV: 0x02, FIN_FWD: 0x04, FIN_REV: 0x08, RST: 0x10 } as const;
export const ENC_STATE = { REV_SEEN: 0x1, FWD_RECORD: 0x2 } as const;
/** CORDON_PORT_PLEN_ANY_PROTO: port_plen of an entry for every protocol. */
export const PORT_PLEN_ANY_PROTO = 0xff;

/**
 * Every struct of cordon.h that user space reads or writes: its size, and the
 * byte offset of each field (pad fields left out), under the C names.
 */
export const LAYOUT = {
  cordon_ipcache_key: { size: 20, prefixlen: 0, addr: 4 },
  cordon_host_key: { size: 16, addr: 0 },
  cordon_ipcache_value: { size: 16, identity: 0, flags: 4, mac: 8 },
  cordon_policy_key: { size: 12, src_identity: 0, dst_identity: 4, protocol: 8, port_plen: 9, port: 10 },
  cordon_policy_value: { size: 8, rule_id: 0, verdict: 4, flags: 5 },
  cordon_policy_mask_key: { size: 12, src_identity: 0, dst_identity: 4, protocol: 8 },
  cordon_policy_mask: { size: 4, port_plens: 0 },
  cordon_state: { size: 24, epoch: 0, generation: 8, flags: 16 },
  cordon_flow_key: { size: 40, saddr: 0, daddr: 16, sport: 32, dport: 34, protocol: 36, family: 37, kind: 38 },
  cordon_flow_value: {
    size: 96,
    first_seen_ns: 0,
    last_seen_ns: 8,
    packets_fwd: 16,
    bytes_fwd: 24,
    packets_rev: 32,
    bytes_rev: 40,
    epoch: 48,
    src_identity: 56,
    dst_identity: 60,
    rule_id: 64,
    ifindex: 68,
    verdict: 72,
    reason: 73,
    tcp_flags: 74,
    encryption: 75,
    policy_port: 76,
    enc_state: 78,
    flags: 79,
    src_mac: 80,
    dst_mac: 86,
    enc_next_seq: 92,
  },
  cordon_budget_key: { size: 16, addr: 0 },
  cordon_budget_value: { size: 16, tokens: 0, last_ns: 8 },
  cordon_counter: { size: 16, packets: 0, bytes: 8 },
  cordon_pair_key: { size: 12, src_identity: 0, dst_identity: 4, verdict: 8, reason: 9 },
  cordon_event: {
    size: 72,
    ts_ns: 0,
    saddr: 8,
    daddr: 24,
    sport: 40,
    dport: 42,
    protocol: 44,
    family: 45,
    verdict: 46,
    reason: 47,
    src_identity: 48,
    dst_identity: 52,
    rule_id: 56,
    ifindex: 60,
    smac: 64,
  },
} as const;

/** Struct sizes, by the names the encoders use. */
export const SIZE = {
  IPCACHE_KEY: LAYOUT.cordon_ipcache_key.size,
  HOST_KEY: LAYOUT.cordon_host_key.size,
  IPCACHE_VALUE: LAYOUT.cordon_ipcache_value.size,
  POLICY_KEY: LAYOUT.cordon_policy_key.size,
  POLICY_VALUE: LAYOUT.cordon_policy_value.size,
  POLICY_MASK_KEY: LAYOUT.cordon_policy_mask_key.size,
  POLICY_MASK: LAYOUT.cordon_policy_mask.size,
  FLOW_KEY: LAYOUT.cordon_flow_key.size,
  FLOW_VALUE: LAYOUT.cordon_flow_value.size,
  PAIR_KEY: LAYOUT.cordon_pair_key.size,
  COUNTER: LAYOUT.cordon_counter.size,
  EVENT: LAYOUT.cordon_event.size,
  STATE: LAYOUT.cordon_state.size,
  BUDGET_KEY: LAYOUT.cordon_budget_key.size,
  BUDGET_VALUE: LAYOUT.cordon_budget_value.size,
} as const;

const FK = LAYOUT.cordon_flow_key;
const FV = LAYOUT.cordon_flow_value;
/**
 * Where things are in one entry of a raw flow dump: the key (struct
 * cordon_flow_key) then the value (struct cordon_flow_value), back to back,
 * STRIDE bytes apart. Offsets are from the entry's start. Bytes
 * [0, IDENTITY_END) are the 5-tuple and first_seen_ns: what tells one
 * connection from another, also when a 5-tuple is reused later.
 */
export const FLOW_ENTRY = {
  STRIDE: FK.size + FV.size,
  IDENTITY_END: FK.size + FV.first_seen_ns + 8,
  VALUE: FK.size,
  FIRST_SEEN: FK.size + FV.first_seen_ns,
  LAST_SEEN: FK.size + FV.last_seen_ns,
  PACKETS_FWD: FK.size + FV.packets_fwd,
  BYTES_FWD: FK.size + FV.bytes_fwd,
  PACKETS_REV: FK.size + FV.packets_rev,
  BYTES_REV: FK.size + FV.bytes_rev,
  IFINDEX: FK.size + FV.ifindex,
  FLAGS: FK.size + FV.flags,
  SRC_MAC: FK.size + FV.src_mac,
  DST_MAC: FK.size + FV.dst_mac,
} as const;

/** code -> lower-case name of a CORDON_* group (VERDICT, REASON). */
function namesOf<K extends string>(group: Record<K, number>): Record<number, Lowercase<K>> {
  return Object.fromEntries(Object.entries(group).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, Lowercase<K>>;
}

/** An address -> identity entry of a generation (a segment CIDR or a device address). */
export interface IpcacheEntry {
  /** CIDR, IPv4 or IPv6 (`10.1.0.0/16`, `fd00::7/128`); a bare address means a host route. */
  cidr: string;
  identity: number;
  /** The segment is in audit mode. */
  audit?: boolean;
  /** Bound MAC (`02:00:00:00:00:07`): packets from this address with another MAC are spoofed. */
  mac?: string;
  /** A declared router: may send IPv6 router advertisements and redirects onto its segment. */
  router?: boolean;
}

/** A policy entry: identity pair, protocol and a port prefix, and what it decides. */
export interface PolicyEntry {
  srcIdentity: number;
  dstIdentity: number;
  /** IP protocol number, or null for any protocol. */
  protocol: number | null;
  /** Port (ICMP: type << 8 | code) and how many of its 16 bits matter; omitted = every port. */
  port?: number;
  portPrefixLen?: number;
  verdict: typeof VERDICT.ALLOW | typeof VERDICT.DENY | typeof VERDICT.AUDIT;
  ruleId: number;
  encryptionRequired?: boolean;
}

/** 16-byte form of an address: IPv6 as is, IPv4 as IPv4-mapped IPv6. */
export function addressBytes(addr: string): Buffer {
  const out = Buffer.alloc(16);
  if (isIPv4(addr)) {
    out[10] = 0xff;
    out[11] = 0xff;
    addr.split('.').forEach((o, i) => (out[12 + i] = Number(o)));
    return out;
  }
  if (!isIPv6(addr)) throw new Error(`not an IP address: ${addr}`);
  let v = addr;
  const v4tail = v.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4tail) {
    const b = addressBytes(v4tail[1]);
    const hi = b.readUInt16BE(12).toString(16);
    const lo = b.readUInt16BE(14).toString(16);
    v = v.slice(0, -v4tail[1].length) + `${hi}:${lo}`;
  }
  const [head, tail] = v.includes('::') ? v.split('::') : [v, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Address text from the 16-byte form (IPv4-mapped shown as dotted quad). */
export function addressText(b: Buffer | Uint8Array, offset = 0): string {
  const buf = Buffer.from(b.buffer, b.byteOffset + offset, 16);
  const mapped = buf.subarray(0, 10).every((x) => x === 0) && buf[10] === 0xff && buf[11] === 0xff;
  if (mapped) return `${buf[12]}.${buf[13]}.${buf[14]}.${buf[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(i * 2).toString(16));
  // RFC 5952: compress the longest run of zero groups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function macBytes(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function macText(b: Buffer | Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Keys and values packed back to back, as the addon writes them in batches. */
export interface PackedEntries {
  keys: Buffer;
  values: Buffer;
  count: number;
}

function pack(count: number, keySize: number, valueSize: number): PackedEntries {
  return { keys: Buffer.alloc(count * keySize), values: Buffer.alloc(count * valueSize), count };
}

/**
 * Splits ipcache entries into host addresses (/32, /128: a hash) and shorter
 * prefixes (an LPM trie), see cordon.h.
 */
export function encodeIpcache(entries: readonly IpcacheEntry[]): { hosts: PackedEntries; prefixes: PackedEntries } {
  const parsed = entries.map((e) => {
    const [addr, lenText] = e.cidr.split('/');
    const v4 = isIPv4(addr);
    const max = v4 ? 32 : 128;
    const len = lenText === undefined ? max : Number(lenText);
    if (!Number.isInteger(len) || len < 0 || len > max) throw new Error(`bad prefix length in ${e.cidr}`);
    return { e, bytes: addressBytes(addr), plen: v4 ? 96 + len : len };
  });
  const hostList = parsed.filter((p) => p.plen === 128);
  const prefixList = parsed.filter((p) => p.plen < 128);
  const hosts = pack(hostList.length, SIZE.HOST_KEY, SIZE.IPCACHE_VALUE);
  const prefixes = pack(prefixList.length, SIZE.IPCACHE_KEY, SIZE.IPCACHE_VALUE);
  const V = LAYOUT.cordon_ipcache_value;
  const value = (out: Buffer, o: number, e: IpcacheEntry) => {
    out.writeUInt32LE(e.identity, o + V.identity);
    out.writeUInt32LE((e.audit ? IPC_FLAG.AUDIT : 0) | (e.mac ? IPC_FLAG.MAC : 0) | (e.router ? IPC_FLAG.ROUTER : 0), o + V.flags);
    if (e.mac) macBytes(e.mac).copy(out, o + V.mac);
  };
  hostList.forEach((p, i) => {
    p.bytes.copy(hosts.keys, i * SIZE.HOST_KEY + LAYOUT.cordon_host_key.addr);
    value(hosts.values, i * SIZE.IPCACHE_VALUE, p.e);
  });
  const K = LAYOUT.cordon_ipcache_key;
  prefixList.forEach((p, i) => {
    prefixes.keys.writeUInt32LE(p.plen, i * SIZE.IPCACHE_KEY + K.prefixlen);
    p.bytes.copy(prefixes.keys, i * SIZE.IPCACHE_KEY + K.addr);
    value(prefixes.values, i * SIZE.IPCACHE_VALUE, p.e);
  });
  return { hosts, prefixes };
}

/**
 * Packs policy entries (a hash) and, per (pair, protocol), the mask of port
 * block sizes present, which tells the datapath which lookups to try.
 */
export function encodePolicy(entries: readonly PolicyEntry[]): { policy: PackedEntries; masks: PackedEntries } {
  const policy = pack(entries.length, SIZE.POLICY_KEY, SIZE.POLICY_VALUE);
  const masks = new Map<string, { src: number; dst: number; protocol: number; bits: number }>();
  const K = LAYOUT.cordon_policy_key;
  const V = LAYOUT.cordon_policy_value;
  entries.forEach((e, i) => {
    const k = i * SIZE.POLICY_KEY;
    policy.keys.writeUInt32LE(e.srcIdentity, k + K.src_identity);
    policy.keys.writeUInt32LE(e.dstIdentity, k + K.dst_identity);
    if (e.protocol === null) {
      policy.keys.writeUInt8(PORT_PLEN_ANY_PROTO, k + K.port_plen);
    } else {
      const plen = e.portPrefixLen ?? 0;
      if (!Number.isInteger(plen) || plen < 0 || plen > 16) throw new Error(`bad port prefix length ${plen}`);
      if (!Number.isInteger(e.protocol) || e.protocol < 0 || e.protocol > 255) throw new Error(`bad protocol ${e.protocol}`);
      const mask = plen === 0 ? 0 : (0xffff << (16 - plen)) & 0xffff;
      policy.keys.writeUInt8(e.protocol, k + K.protocol);
      policy.keys.writeUInt8(plen, k + K.port_plen);
      policy.keys.writeUInt16BE((e.port ?? 0) & mask, k + K.port);
      const id = `${e.srcIdentity}/${e.dstIdentity}/${e.protocol}`;
      const m = masks.get(id) ?? { src: e.srcIdentity, dst: e.dstIdentity, protocol: e.protocol, bits: 0 };
      m.bits |= 1 << plen;
      masks.set(id, m);
    }
    const o = i * SIZE.POLICY_VALUE;
    policy.values.writeUInt32LE(e.ruleId, o + V.rule_id);
    policy.values.writeUInt8(e.verdict, o + V.verdict);
    policy.values.writeUInt8(e.encryptionRequired ? POLICY_FLAG.ENCRYPT_REQUIRED : 0, o + V.flags);
  });
  const packed = pack(masks.size, SIZE.POLICY_MASK_KEY, SIZE.POLICY_MASK);
  const MK = LAYOUT.cordon_policy_mask_key;
  [...masks.values()].forEach((m, i) => {
    packed.keys.writeUInt32LE(m.src, i * SIZE.POLICY_MASK_KEY + MK.src_identity);
    packed.keys.writeUInt32LE(m.dst, i * SIZE.POLICY_MASK_KEY + MK.dst_identity);
    packed.keys.writeUInt8(m.protocol, i * SIZE.POLICY_MASK_KEY + MK.protocol);
    packed.values.writeUInt32LE(m.bits >>> 0, i * SIZE.POLICY_MASK + LAYOUT.cordon_policy_mask.port_plens);
  });
  return { policy, masks: packed };
}
