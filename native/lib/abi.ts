// SPDX-License-Identifier: Apache-2.0
/**
 * The kernel ABI of bpf/cordon.h, seen from TypeScript: constants and the
 * byte layout of every map key and value user space writes or reads.
 * Keep in step with bpf/cordon.h (test/datapath/abi.test.ts checks sizes
 * against the compiled object's BTF).
 */
import { isIPv4, isIPv6 } from 'node:net';

export const IDENTITY = {
  UNKNOWN: 0,
  WORLD: 1,
  HOST: 2,
  QUARANTINE: 3,
  FIRST_USER: 256,
} as const;

export const VERDICT = { NONE: 0, ALLOW: 1, DENY: 2, AUDIT: 3 } as const;
export type VerdictCode = (typeof VERDICT)[keyof typeof VERDICT];
export const VERDICT_NAME: Record<number, 'none' | 'allow' | 'deny' | 'audit'> = {
  0: 'none',
  1: 'allow',
  2: 'deny',
  3: 'audit',
};

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
export const REASON_NAME: Record<number, string> = {
  0: 'none',
  1: 'policy',
  2: 'spoofed',
  3: 'malformed',
  4: 'fragment',
  5: 'no_connection',
  6: 'plaintext',
  7: 'flow_budget',
};

/** Classes of a flow's first payload (cordon_flow_value.encryption). */
export const ENCRYPTION_NAME = ['pending', 'tls', 'dtls', 'ssh', 'quic', 'plaintext', 'mqtt', 'http', 'coap'] as const;
export type EncryptionClass = (typeof ENCRYPTION_NAME)[number];
/** Classes that are traffic in clear. */
export const PLAINTEXT_CLASSES: readonly EncryptionClass[] = ['plaintext', 'mqtt', 'http', 'coap'];

export const LIMITS = {
  IPCACHE: 262144,
  POLICY: 524288,
  RULES: 262144,
  FLOWS: 262144,
  FRAGS: 16384,
  PAIRS: 65536,
  BUDGETS: 65536,
} as const;

export const IPC_FLAG = { AUDIT: 0x1, MAC: 0x2, ROUTER: 0x4 } as const;
export const POLICY_FLAG = { ENCRYPT_REQUIRED: 0x1 } as const;
export const STATE_FLAG = { AUDIT_ALL: 0x1, LINK_LOCAL_DROP: 0x2 } as const;
/** port_plen of an entry for every protocol. */
export const PORT_PLEN_ANY_PROTO = 0xff;

export const SIZE = {
  IPCACHE_KEY: 20,
  HOST_KEY: 16,
  IPCACHE_VALUE: 16,
  POLICY_KEY: 12,
  POLICY_VALUE: 8,
  POLICY_MASK_KEY: 12,
  POLICY_MASK: 4,
  FLOW_KEY: 40,
  FLOW_VALUE: 96,
  PAIR_KEY: 12,
  COUNTER: 16,
  EVENT: 72,
  STATE: 24,
  BUDGET_KEY: 16,
  BUDGET_VALUE: 16,
} as const;

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
  const value = (out: Buffer, o: number, e: IpcacheEntry) => {
    out.writeUInt32LE(e.identity, o);
    out.writeUInt32LE((e.audit ? IPC_FLAG.AUDIT : 0) | (e.mac ? IPC_FLAG.MAC : 0) | (e.router ? IPC_FLAG.ROUTER : 0), o + 4);
    if (e.mac) macBytes(e.mac).copy(out, o + 8);
  };
  hostList.forEach((p, i) => {
    p.bytes.copy(hosts.keys, i * SIZE.HOST_KEY);
    value(hosts.values, i * SIZE.IPCACHE_VALUE, p.e);
  });
  prefixList.forEach((p, i) => {
    prefixes.keys.writeUInt32LE(p.plen, i * SIZE.IPCACHE_KEY);
    p.bytes.copy(prefixes.keys, i * SIZE.IPCACHE_KEY + 4);
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
  entries.forEach((e, i) => {
    const k = i * SIZE.POLICY_KEY;
    policy.keys.writeUInt32LE(e.srcIdentity, k);
    policy.keys.writeUInt32LE(e.dstIdentity, k + 4);
    if (e.protocol === null) {
      policy.keys.writeUInt8(PORT_PLEN_ANY_PROTO, k + 9);
    } else {
      const plen = e.portPrefixLen ?? 0;
      if (!Number.isInteger(plen) || plen < 0 || plen > 16) throw new Error(`bad port prefix length ${plen}`);
      if (!Number.isInteger(e.protocol) || e.protocol < 0 || e.protocol > 255) throw new Error(`bad protocol ${e.protocol}`);
      const mask = plen === 0 ? 0 : (0xffff << (16 - plen)) & 0xffff;
      policy.keys.writeUInt8(e.protocol, k + 8);
      policy.keys.writeUInt8(plen, k + 9);
      policy.keys.writeUInt16BE((e.port ?? 0) & mask, k + 10);
      const id = `${e.srcIdentity}/${e.dstIdentity}/${e.protocol}`;
      const m = masks.get(id) ?? { src: e.srcIdentity, dst: e.dstIdentity, protocol: e.protocol, bits: 0 };
      m.bits |= 1 << plen;
      masks.set(id, m);
    }
    const o = i * SIZE.POLICY_VALUE;
    policy.values.writeUInt32LE(e.ruleId, o);
    policy.values.writeUInt8(e.verdict, o + 4);
    policy.values.writeUInt8(e.encryptionRequired ? POLICY_FLAG.ENCRYPT_REQUIRED : 0, o + 5);
  });
  const packed = pack(masks.size, SIZE.POLICY_MASK_KEY, SIZE.POLICY_MASK);
  [...masks.values()].forEach((m, i) => {
    packed.keys.writeUInt32LE(m.src, i * SIZE.POLICY_MASK_KEY);
    packed.keys.writeUInt32LE(m.dst, i * SIZE.POLICY_MASK_KEY + 4);
    packed.keys.writeUInt8(m.protocol, i * SIZE.POLICY_MASK_KEY + 8);
    packed.values.writeUInt32LE(m.bits >>> 0, i * SIZE.POLICY_MASK);
  });
  return { policy, masks: packed };
}
