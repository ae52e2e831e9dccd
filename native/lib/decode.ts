// SPDX-License-Identifier: Apache-2.0
/**
 * Decoders of what the addon dumps (flow entries, drop events, pair and
 * reason counters), every offset taken from abi.ts's LAYOUT.
 */
import { ENCRYPTION_NAME, FLOW_ENTRY, FLOW_FLAG, LAYOUT, REASON_NAME, SIZE, VERDICT_NAME } from './abi';
import { addressText, macText } from './encode';
import type { DropEvent, FlowRecord, PairStat, Verdict } from './records';

const FK = LAYOUT.cordon_flow_key;
const FV = LAYOUT.cordon_flow_value;
const EV = LAYOUT.cordon_event;
const PK = LAYOUT.cordon_pair_key;
const CT = LAYOUT.cordon_counter;

function u64(b: Buffer, off: number): number {
  return Number(b.readBigUInt64LE(off));
}

/** An unsigned 64-bit counter as a number, without a BigInt (exact below 2^53). */
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x1_0000_0000;
}

export const verdictOf = (code: number) => (VERDICT_NAME[code] ?? 'deny') as Verdict;
export const reasonOf = (code: number): string => REASON_NAME[code] ?? 'unknown';

export function decodeFlows(buf: Buffer): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let o = 0; o + FLOW_ENTRY.STRIDE <= buf.length; o += FLOW_ENTRY.STRIDE) out.push(decodeFlow(buf, o));
  return out;
}

/** The flow entry at byte offset o of a raw dump (flowsRaw). */
export function decodeFlow(buf: Buffer, o: number): FlowRecord {
  const v = o + FLOW_ENTRY.VALUE;
  const flags = buf[v + FV.flags];
  return {
    src: addressText(buf, o + FK.saddr),
    dst: addressText(buf, o + FK.daddr),
    sport: buf.readUInt16BE(o + FK.sport),
    dport: buf.readUInt16BE(o + FK.dport),
    protocol: buf[o + FK.protocol],
    family: buf[o + FK.family] === 6 ? 6 : 4,
    firstSeenNs: u64(buf, v + FV.first_seen_ns),
    lastSeenNs: u64(buf, v + FV.last_seen_ns),
    packetsFwd: u64(buf, v + FV.packets_fwd),
    bytesFwd: u64(buf, v + FV.bytes_fwd),
    packetsRev: u64(buf, v + FV.packets_rev),
    bytesRev: u64(buf, v + FV.bytes_rev),
    srcIdentity: buf.readUInt32LE(v + FV.src_identity),
    dstIdentity: buf.readUInt32LE(v + FV.dst_identity),
    ruleId: buf.readUInt32LE(v + FV.rule_id),
    ifindex: buf.readUInt32LE(v + FV.ifindex),
    verdict: verdictOf(buf[v + FV.verdict]),
    reason: reasonOf(buf[v + FV.reason]),
    tcpFlags: buf[v + FV.tcp_flags],
    encryption: ENCRYPTION_NAME[buf[v + FV.encryption]] ?? 'plaintext',
    policyPort: buf.readUInt16BE(v + FV.policy_port),
    flags,
    srcMac: flags & FLOW_FLAG.SRC_MAC ? macText(buf.subarray(v + FV.src_mac, v + FV.src_mac + 6)) : '',
    dstMac: flags & FLOW_FLAG.DST_MAC ? macText(buf.subarray(v + FV.dst_mac, v + FV.dst_mac + 6)) : '',
  };
}

export function decodeEvents(buf: Buffer): DropEvent[] {
  const out: DropEvent[] = [];
  for (let o = 0; o + SIZE.EVENT <= buf.length; o += SIZE.EVENT) {
    out.push({
      tsNs: u64(buf, o + EV.ts_ns),
      src: addressText(buf, o + EV.saddr),
      dst: addressText(buf, o + EV.daddr),
      sport: buf.readUInt16BE(o + EV.sport),
      dport: buf.readUInt16BE(o + EV.dport),
      protocol: buf[o + EV.protocol],
      family: buf[o + EV.family] === 6 ? 6 : 4,
      verdict: verdictOf(buf[o + EV.verdict]),
      reason: reasonOf(buf[o + EV.reason]),
      srcIdentity: buf.readUInt32LE(o + EV.src_identity),
      dstIdentity: buf.readUInt32LE(o + EV.dst_identity),
      ruleId: buf.readUInt32LE(o + EV.rule_id),
      ifindex: buf.readUInt32LE(o + EV.ifindex),
      srcMac: macText(buf.subarray(o + EV.smac, o + EV.smac + 6)),
    });
  }
  return out;
}

/** A pair-stats dump: struct cordon_pair_key then struct cordon_counter (summed over CPUs), back to back. */
export function decodePairStats(buf: Buffer): PairStat[] {
  const stride = SIZE.PAIR_KEY + SIZE.COUNTER;
  const out: PairStat[] = [];
  for (let o = 0; o + stride <= buf.length; o += stride) {
    const c = o + SIZE.PAIR_KEY;
    out.push({
      srcIdentity: buf.readUInt32LE(o + PK.src_identity),
      dstIdentity: buf.readUInt32LE(o + PK.dst_identity),
      verdict: verdictOf(buf[o + PK.verdict]),
      reason: reasonOf(buf[o + PK.reason]),
      packets: u64(buf, c + CT.packets),
      bytes: u64(buf, c + CT.bytes),
    });
  }
  return out;
}

/** The i-th struct cordon_counter of an array of them. */
export function decodeCounter(buf: Buffer, i: number): { packets: number; bytes: number } {
  const o = i * SIZE.COUNTER;
  return { packets: u64(buf, o + CT.packets), bytes: u64(buf, o + CT.bytes) };
}
