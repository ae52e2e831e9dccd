// SPDX-License-Identifier: Apache-2.0
/** The flow collector's records as the control protocol carries them. */
import type { WireFlowRecord, WirePairCounter } from '../../../proto/cordon/v1/control';
import { VERDICT_TO_WIRE, reasonToWire } from '../../../proto/cordon/v1/control';
import type { DatapathFlow } from './datapath.port';
import type { PairCount } from './flow-collector-counters';

/** Monotonic ns (bpf_ktime_get_ns, CLOCK_MONOTONIC like process.hrtime) to wall-clock ms. */
export function monoNsToEpochMs(ns: number): number {
  if (!ns) return 0;
  const nowNs = Number(process.hrtime.bigint());
  return Math.max(0, Math.round(Date.now() - (nowNs - ns) / 1e6));
}

/** Monotonic ns to wall-clock ms with one clock reading for a whole poll, not two per flow. */
export function monoToEpochMsNow(): (ns: number) => number {
  const offsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;
  return (ns: number) => (ns ? Math.max(0, Math.round(ns / 1e6 + offsetMs)) : 0);
}

/**
 * A flow with the increments of its counters since the previous poll
 * (inc[k..k+3]: packets and bytes forward, packets and bytes back).
 */
export function wireFlow(f: DatapathFlow, inc: readonly number[], k: number, epochMs: (ns: number) => number, srcMac: string, ifname: string | undefined, dstName?: string): WireFlowRecord {
  const w: WireFlowRecord = {
    src: f.src,
    dst: f.dst,
    sport: f.sport,
    dport: f.dport,
    protocol: f.protocol,
    family: f.family,
    srcIdentity: f.srcIdentity,
    dstIdentity: f.dstIdentity,
    verdict: VERDICT_TO_WIRE[f.verdict] ?? 'VERDICT_NONE',
    reason: f.verdict === 'allow' ? 'DROP_REASON_NONE' : reasonToWire(f.reason),
    ruleId: f.ruleId,
    packetsFwd: inc[k],
    bytesFwd: inc[k + 1],
    packetsRev: inc[k + 2],
    bytesRev: inc[k + 3],
    firstSeen: epochMs(f.firstSeenNs),
    lastSeen: epochMs(f.lastSeenNs),
    ifindex: f.ifindex,
  };
  // Optional strings only when known: an empty one still costs the encoder a field (proto3 reads it back as '').
  if (f.encryption) w.encryption = f.encryption;
  // ICMP's type and code: its ports carry the echo identifier (`cordon flows` names the message).
  if ((f.protocol === 1 || f.protocol === 58) && f.policyPort) w.policyPort = f.policyPort;
  if (srcMac) w.srcMac = srcMac;
  if (ifname) w.interface = ifname;
  if (dstName) w.dstName = dstName;
  return w;
}

export function wirePair(p: PairCount, srcSegment: string, dstSegment: string, packets: number, bytes: number): WirePairCounter {
  return {
    srcIdentity: p.srcIdentity,
    dstIdentity: p.dstIdentity,
    srcSegment,
    dstSegment,
    verdict: VERDICT_TO_WIRE[p.verdict as keyof typeof VERDICT_TO_WIRE] ?? 'VERDICT_NONE',
    reason: p.verdict === 'allow' ? 'DROP_REASON_NONE' : reasonToWire(p.reason),
    packets,
    bytes,
  };
}
