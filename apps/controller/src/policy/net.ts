/**
 * Addresses and prefixes the way the datapath sees them: one 128-bit space in
 * which IPv4 lives as IPv4-mapped IPv6 (::ffff:a.b.c.d), so an IPv4 /n is a
 * /(96 + n) there. Compiler, validation and trace all go through here so
 * that "contains" and "longest prefix" mean the same thing everywhere.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { addressBytes, addressText } from '../../../../native/lib/encode';

export type Family = 4 | 6;

export interface Address {
  family: Family;
  /** 128-bit value; IPv4 is mapped (::ffff:0:0/96). */
  value: bigint;
}

export interface Prefix extends Address {
  /** Length in the 128-bit space (IPv4 /24 is 120). */
  len: number;
  /** Canonical text (`10.1.0.0/16`, `fd00::/64`), used as the ipcache key. */
  text: string;
}

const ALL = (1n << 128n) - 1n;
const V4_MAPPED = 0xffffn << 32n;

/** An IPv6 address in ::ffff:0:0/96: how IPv4 is keyed, never a real IPv6 packet's source or destination. */
export const isV4MappedV6 = (a: Address): boolean => a.family === 6 && a.value >> 32n === 0xffffn;
/** MASKS[n] keeps the first n of 128 bits. */
export const MASKS: readonly bigint[] = Array.from({ length: 129 }, (_, n) =>
  n === 0 ? 0n : ALL ^ ((1n << BigInt(128 - n)) - 1n),
);

function bytesToBigint(b: Buffer): bigint {
  return (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8);
}

/** Parses an IPv4 or IPv6 address (no zone, no prefix); null when it is not one. */
export function parseAddress(text: string): Address | null {
  if (typeof text !== 'string' || text.includes('%')) return null;
  if (isIPv4(text)) {
    const v = text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
    return { family: 4, value: V4_MAPPED | v };
  }
  if (isIPv6(text)) return { family: 6, value: bytesToBigint(addressBytes(text)) };
  return null;
}

export function formatAddress(a: Address): string {
  if (a.family === 4) {
    const v = Number(a.value & 0xffffffffn);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(a.value >> 64n, 0);
  b.writeBigUInt64BE(a.value & 0xffffffffffffffffn, 8);
  const t = addressText(b);
  // addressText shows any mapped address as a dotted quad; an IPv6 document
  // that wrote ::ffff:a.b.c.d keeps its IPv6 spelling.
  return t.includes(':') ? t : `::ffff:${t}`;
}

/** Why `text` is not a valid CIDR (a bare address is a host route), or null when it is. */
export function cidrError(text: unknown): string | null {
  if (typeof text !== 'string') return 'expected a CIDR string such as 10.0.0.0/24';
  const [addrText, lenText, extra] = text.split('/');
  if (extra !== undefined) return `${text} is not a CIDR`;
  const addr = parseAddress(addrText);
  if (!addr) return `${text} is not a CIDR: ${addrText} is not an IPv4 or IPv6 address`;
  const max = addr.family === 4 ? 32 : 128;
  if (lenText === undefined) return null;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
    return `${text} has a bad prefix length: /${lenText} (IPv${addr.family} allows /0 to /${max})`;
  }
  const len = Number(lenText) + (addr.family === 4 ? 96 : 0);
  if ((addr.value & ~MASKS[len] & ALL) !== 0n) {
    const net = formatAddress({ family: addr.family, value: addr.value & MASKS[len] });
    return `${text} has host bits set; the network is ${net}/${lenText}`;
  }
  return null;
}

/** Parses a CIDR or a bare address (host route); throws with cidrError's reason. */
export function parseCidr(text: string): Prefix {
  const err = cidrError(text);
  if (err) throw new Error(err);
  const [addrText, lenText] = text.split('/');
  const addr = parseAddress(addrText) as Address;
  const max = addr.family === 4 ? 32 : 128;
  const n = lenText === undefined ? max : Number(lenText);
  return { ...addr, len: n + (addr.family === 4 ? 96 : 0), text: `${formatAddress(addr)}/${n}` };
}

/** The host route of an address (`/32` or `/128`). */
/**
 * The prefix as the kernel keys it: one key for every spelling of it
 * (10.0.0.0/24 and ::ffff:10.0.0.0/120 are the same trie entry).
 */
export function prefixKey(p: { value: bigint; len: number }): string {
  return `${p.value.toString(16)}/${p.len}`;
}

export function hostPrefix(a: Address): Prefix {
  return { ...a, len: 128, text: `${formatAddress(a)}/${a.family === 4 ? 32 : 128}` };
}

export function prefixContains(p: Prefix, a: Address): boolean {
  return p.family === a.family && (a.value & MASKS[p.len]) === p.value;
}

/** The address trace uses for "any address of" a prefix: the first usable one. */
export function firstUsable(p: Prefix): Address {
  const hostBits = 128 - p.len;
  return { family: p.family, value: hostBits <= 1 ? p.value : p.value + 1n };
}

/** Longest-prefix index over prefixes, looked up the way the kernel LPM trie is. */
export class PrefixIndex<T> {
  private readonly byLen = new Map<number, Map<bigint, T>>();
  private lens: number[] = [];

  /** Adds an entry; returns the entry already at that exact prefix, if any (kept). */
  add(p: { value: bigint; len: number }, v: T): T | undefined {
    let m = this.byLen.get(p.len);
    if (!m) {
      m = new Map();
      this.byLen.set(p.len, m);
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
    const old = m.get(p.value);
    if (old !== undefined) return old;
    m.set(p.value, v);
    return undefined;
  }

  lookup(value: bigint): T | undefined {
    for (const len of this.lens) {
      const hit = this.byLen.get(len)!.get(value & MASKS[len]);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}
