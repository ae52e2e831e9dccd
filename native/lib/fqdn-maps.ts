// SPDX-License-Identifier: Apache-2.0
/**
 * The byte forms of the two maps user space writes entry by entry (cordon.h
 * "fqdn" and "dns"): learned addresses with their name selectors, and the DNS
 * steering configuration. Layouts from abi.ts.
 */
import { FQDN_SELECTORS, LAYOUT, LIMITS, SIZE } from './abi';
import { addressBytes, addressText } from './encode';

/** A learned address: the name selectors (identities) it counts as, until expiresNs (bpf_ktime_get_ns clock). */
export interface FqdnEntry {
  address: string;
  expiresNs: bigint;
  selectors: readonly number[];
}

/** Where the DNS proxy listens, and the resolvers whose queries are steered to it (index i: port portBase + i). */
export interface DnsSteering {
  proxy4?: string;
  proxy6?: string;
  resolvers: readonly string[];
  portBase: number;
}

const V = LAYOUT.cordon_fqdn_value;
const D = LAYOUT.cordon_dns_config;

export function encodeFqdn(entries: readonly FqdnEntry[]): { keys: Buffer; values: Buffer; count: number } {
  const keys = Buffer.alloc(entries.length * SIZE.HOST_KEY);
  const values = Buffer.alloc(entries.length * SIZE.FQDN_VALUE);
  entries.forEach((e, i) => {
    if (e.selectors.length > FQDN_SELECTORS) throw new Error(`${e.address}: ${e.selectors.length} selectors; the datapath holds ${FQDN_SELECTORS}`);
    addressBytes(e.address).copy(keys, i * SIZE.HOST_KEY);
    const o = i * SIZE.FQDN_VALUE;
    values.writeBigUInt64LE(e.expiresNs, o + V.expires_ns);
    values.writeUInt32LE(e.selectors.length, o + V.count);
    e.selectors.forEach((id, k) => values.writeUInt32LE(id, o + V.selectors + 4 * k));
  });
  return { keys, values, count: entries.length };
}

export function encodeAddresses(addresses: readonly string[]): Buffer {
  const keys = Buffer.alloc(addresses.length * SIZE.HOST_KEY);
  addresses.forEach((a, i) => addressBytes(a).copy(keys, i * SIZE.HOST_KEY));
  return keys;
}

export function decodeFqdn(buf: Buffer): FqdnEntry[] {
  const stride = SIZE.HOST_KEY + SIZE.FQDN_VALUE;
  const out: FqdnEntry[] = [];
  for (let o = 0; o + stride <= buf.length; o += stride) {
    const v = o + SIZE.HOST_KEY;
    const n = Math.min(buf.readUInt32LE(v + V.count), FQDN_SELECTORS);
    const selectors: number[] = [];
    for (let k = 0; k < n; k++) selectors.push(buf.readUInt32LE(v + V.selectors + 4 * k));
    out.push({ address: addressText(buf, o), expiresNs: buf.readBigUInt64LE(v + V.expires_ns), selectors });
  }
  return out;
}

export function encodeDnsSteering(s: DnsSteering): { keys: Buffer; values: Buffer; count: number } {
  if (s.resolvers.length > LIMITS.RESOLVERS) throw new Error(`${s.resolvers.length} resolvers; the datapath steers to at most ${LIMITS.RESOLVERS}`);
  if (!Number.isInteger(s.portBase) || s.portBase < 0 || s.portBase + s.resolvers.length > 65535) throw new Error(`DNS proxy port ${s.portBase} leaves no room for ${s.resolvers.length} resolvers`);
  const v = Buffer.alloc(SIZE.DNS_CONFIG);
  if (s.proxy4) addressBytes(s.proxy4).copy(v, D.proxy4);
  if (s.proxy6) addressBytes(s.proxy6).copy(v, D.proxy6);
  s.resolvers.forEach((r, i) => addressBytes(r).copy(v, D.resolvers + 16 * i));
  v.writeUInt32LE(s.resolvers.length, D.count);
  v.writeUInt16LE(s.portBase, D.port_base);
  return { keys: Buffer.alloc(4), values: v, count: 1 };
}
