// SPDX-License-Identifier: Apache-2.0
/**
 * Crafts Ethernet frames for BPF_PROG_TEST_RUN: IPv4 (options, fragments),
 * IPv6 (extension headers, fragments), TCP, UDP, ICMP, ICMPv6, ARP.
 * Checksums are left zero: the datapath does not verify them (the kernel does later).
 */
import { isIPv4 } from 'node:net';
import { addressBytes, macBytes } from '../../native/lib/encode';

export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;
export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface PacketSpec {
  src: string;
  dst: string;
  srcMac?: string;
  dstMac?: string;
  protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  /** TCP sequence number (default 1). */
  seq?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  payload?: Buffer;
  ttl?: number;
  /** IPv4: fragment offset in bytes (multiple of 8) and more-fragments flag; IPv6 via a fragment header. */
  fragment?: { id: number; offset: number; more: boolean };
  /** IPv6 extension headers before the L4 header (protocol numbers: 0 hop-by-hop, 43 routing, 60 dst opts). */
  extHeaders?: number[];
  /** IPv4 options length in bytes (multiple of 4). */
  ipv4OptionsLen?: number;
}

function protoNumber(p: PacketSpec['protocol'], v4: boolean): number {
  if (typeof p === 'number') return p;
  return { tcp: PROTO.TCP, udp: PROTO.UDP, icmp: PROTO.ICMP, icmpv6: PROTO.ICMPV6 }[p] ?? (v4 ? 1 : 58);
}

function l4Header(spec: PacketSpec, proto: number, v4: boolean): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  if (proto === PROTO.TCP) {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(spec.sport ?? 40000, 0);
    h.writeUInt16BE(spec.dport ?? 80, 2);
    h.writeUInt32BE((spec.seq ?? 1) >>> 0, 4);
    h[12] = 5 << 4;
    h[13] = spec.tcpFlags ?? TCP_FLAGS.SYN;
    h.writeUInt16BE(65535, 14);
    return Buffer.concat([h, payload]);
  }
  if (proto === PROTO.UDP) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(spec.sport ?? 40000, 0);
    h.writeUInt16BE(spec.dport ?? 53, 2);
    h.writeUInt16BE(8 + payload.length, 4);
    return Buffer.concat([h, payload]);
  }
  if (proto === PROTO.ICMP || proto === PROTO.ICMPV6) {
    const h = Buffer.alloc(8);
    h[0] = spec.icmpType ?? (v4 ? 8 : 128);
    h[1] = spec.icmpCode ?? 0;
    h.writeUInt16BE(spec.icmpId ?? 0x1234, 4);
    h.writeUInt16BE(1, 6);
    return Buffer.concat([h, payload]);
  }
  return payload;
}

export function ethernet(spec: Pick<PacketSpec, 'srcMac' | 'dstMac'>, ethertype: number): Buffer {
  const e = Buffer.alloc(14);
  macBytes(spec.dstMac ?? '02:00:00:00:00:fe').copy(e, 0);
  macBytes(spec.srcMac ?? '02:00:00:00:00:01').copy(e, 6);
  e.writeUInt16BE(ethertype, 12);
  return e;
}

export function packet(spec: PacketSpec): Buffer {
  const v4 = isIPv4(spec.src);
  const proto = protoNumber(spec.protocol, v4);
  const laterFragment = spec.fragment && spec.fragment.offset > 0;
  const l4 = laterFragment ? spec.payload ?? Buffer.alloc(16) : l4Header(spec, proto, v4);
  if (v4) {
    const optLen = spec.ipv4OptionsLen ?? 0;
    const ip = Buffer.alloc(20 + optLen);
    ip[0] = 0x40 | ((20 + optLen) / 4);
    ip.writeUInt16BE(ip.length + l4.length, 2);
    ip.writeUInt16BE(spec.fragment?.id ?? 1, 4);
    if (spec.fragment) ip.writeUInt16BE((spec.fragment.more ? 0x2000 : 0) | (spec.fragment.offset / 8), 6);
    ip[8] = spec.ttl ?? 64;
    ip[9] = proto;
    addressBytes(spec.src).copy(ip, 12, 12, 16);
    addressBytes(spec.dst).copy(ip, 16, 12, 16);
    if (optLen) ip.fill(1, 20); // NOP options
    return Buffer.concat([ethernet(spec, 0x0800), ip, l4]);
  }
  // IPv6: optional extension headers, then an optional fragment header.
  const chain = [...(spec.extHeaders ?? [])];
  if (spec.fragment) chain.push(44);
  const exts: Buffer[] = [];
  chain.forEach((h, i) => {
    const next = i + 1 < chain.length ? chain[i + 1] : proto;
    const b = Buffer.alloc(8);
    b[0] = next;
    if (h === 44) {
      b.writeUInt16BE((spec.fragment!.offset & 0xfff8) | (spec.fragment!.more ? 1 : 0), 2);
      b.writeUInt32BE(spec.fragment!.id, 4);
    }
    exts.push(b);
  });
  const payload = Buffer.concat([...exts, l4]);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(payload.length, 4);
  ip[6] = chain.length ? chain[0] : proto;
  ip[7] = spec.ttl ?? 64;
  addressBytes(spec.src).copy(ip, 8);
  addressBytes(spec.dst).copy(ip, 24);
  return Buffer.concat([ethernet(spec, 0x86dd), ip, payload]);
}

/** An ARP request or reply claiming senderIp is at senderMac. */
export function arp(senderIp: string, senderMac: string, targetIp: string, op: 1 | 2 = 1): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  macBytes(senderMac).copy(a, 8);
  addressBytes(senderIp).copy(a, 14, 12, 16);
  addressBytes(targetIp).copy(a, 24, 12, 16);
  return Buffer.concat([ethernet({ srcMac: senderMac, dstMac: 'ff:ff:ff:ff:ff:ff' }, 0x0806), a]);
}

/** ICMPv6 neighbour discovery types (RFC 4861). */
export const ND = { ROUTER_SOLICIT: 133, ROUTER_ADVERT: 134, NEIGHBOUR_SOLICIT: 135, NEIGHBOUR_ADVERT: 136, REDIRECT: 137 } as const;

export interface NdSpec {
  type: (typeof ND)[keyof typeof ND];
  src: string;
  dst: string;
  srcMac?: string;
  /** NS, NA, redirect: the address solicited, advertised or redirected to. */
  target?: string;
  /** The link-layer address option (source for RS/RA/NS/redirect, target for NA). */
  lladdr?: string;
  /** Default 255, as RFC 4861 requires. */
  hopLimit?: number;
}

/** A neighbour discovery message with its body: target (NS, NA, redirect: target then destination) and options. */
export function nd(spec: NdSpec): Buffer {
  // after the 8-byte ICMPv6 header: RA's reachable and retransmit timers, the target (and a redirect's destination)
  const fixed = { 133: 0, 134: 8, 135: 16, 136: 16, 137: 32 }[spec.type];
  const body = Buffer.alloc(fixed);
  if (spec.type >= ND.NEIGHBOUR_SOLICIT) addressBytes(spec.target ?? '::').copy(body, 0);
  const opts: Buffer[] = [];
  if (spec.lladdr) {
    const o = Buffer.alloc(8);
    o[0] = spec.type === ND.NEIGHBOUR_ADVERT || spec.type === ND.REDIRECT ? 2 : 1;
    o[1] = 1;
    macBytes(spec.lladdr).copy(o, 2);
    opts.push(o);
  }
  // type, code, checksum and the first 4 bytes come from packet()'s ICMP header; the rest is the payload
  const full = packet({ src: spec.src, dst: spec.dst, srcMac: spec.srcMac, protocol: 'icmpv6', icmpType: spec.type, icmpCode: 0, icmpId: 0, ttl: spec.hopLimit ?? 255, payload: Buffer.concat([body, ...opts]) });
  // packet() writes an id and a sequence number into bytes 4-7 of the ICMP header: ND has flags and reserved bytes there
  full.fill(0, 14 + 40 + 4, 14 + 40 + 8);
  return full;
}
