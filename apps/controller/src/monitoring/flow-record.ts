// SPDX-License-Identifier: Apache-2.0
/**
 * The flow record monitoring consumes: the FlowBatch record of control.proto as
 * @grpc/proto-loader decodes it (camelCase, enums as strings), so the control
 * channel can hand `batch.flows` over unchanged. Verdict and reason may also be
 * given short (`deny`, `policy`), as tests and replays write them.
 */
export interface FlowRecord {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family?: number;
  srcIdentity: number;
  dstIdentity: number;
  /** VERDICT_ALLOW | VERDICT_DENY | VERDICT_AUDIT | allow | deny | audit. */
  verdict: string;
  /** DROP_REASON_POLICY | policy | spoofed | ... */
  reason?: string;
  ruleId?: number;
  packetsFwd: number;
  bytesFwd: number;
  packetsRev?: number;
  bytesRev?: number;
  /** Unix ms. */
  firstSeen?: number;
  lastSeen?: number;
  ifindex?: number;
  /** FlowRecord.src_mac: the source's MAC when the enforcer knows it ('' when not). */
  srcMac?: string;
  /** FlowRecord.interface: the name of ifindex on the enforcer ('' when not resolved). */
  interface?: string;
  /** FlowRecord.dst_name: the DNS name the enforcer learned dst from ('' or absent when none). */
  dstName?: string;
  /** The source MAC as tests and replays may give it (srcMac is the wire's). */
  mac?: string;
}

export type ShortVerdict = 'allow' | 'deny' | 'audit' | 'none';

// The wire's names answered from a table: these run for every flow record.
const SHORT_VERDICT: Record<string, ShortVerdict> = { VERDICT_ALLOW: 'allow', VERDICT_DENY: 'deny', VERDICT_AUDIT: 'audit', VERDICT_NONE: 'none', allow: 'allow', deny: 'deny', audit: 'audit' };
const SHORT_REASON = new Map<string, string>();

export function shortVerdict(v: string | undefined): ShortVerdict {
  if (!v) return 'none';
  const hit = SHORT_VERDICT[v];
  if (hit) return hit;
  const s = v.startsWith('VERDICT_') ? v.slice(8).toLowerCase() : v.toLowerCase();
  return s === 'allow' || s === 'deny' || s === 'audit' ? s : 'none';
}

export function shortReason(r: string | undefined): string {
  if (!r) return 'none';
  let s = SHORT_REASON.get(r);
  if (s === undefined) {
    s = r.startsWith('DROP_REASON_') ? r.slice(12).toLowerCase() : r.toLowerCase();
    if (SHORT_REASON.size < 256) SHORT_REASON.set(r, s);
  }
  return s;
}

const TRANSPORT: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp' };
/** ECS network.transport. */
export function transportName(p: number): string {
  return TRANSPORT[p] ?? String(p);
}
