// SPDX-License-Identifier: Apache-2.0
/**
 * The byte forms user space writes into the datapath's maps (and reads back:
 * addresses and MACs), by the layouts abi.ts states.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { IPC_FLAG, LAYOUT, POLICY_FLAG, PORT_PLEN_ANY_PROTO, SIZE, type IpcacheEntry, type PolicyEntry } from './abi';

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
