// SPDX-License-Identifier: Apache-2.0
/**
 * The shapes of the datapath facade (native/lib/datapath.ts): its options and
 * what it takes and gives. Apart from it so that the addon's loader
 * (binding.ts) and the decoders (decode.ts) need not import the facade.
 */
import type { EncryptionClass, IpcacheEntry, PolicyEntry } from './abi';

export type Direction = 'ingress' | 'egress';
export type Verdict = 'allow' | 'deny' | 'audit';

export interface DatapathOptions {
  /** Pins live under PIN_ROOT/<name>/; a second open of the same name adopts them. */
  name: string;
  pinRoot?: string;
  ctTimeoutTcpSeconds?: number;
  ctTimeoutUdpSeconds?: number;
  ctTimeoutOtherSeconds?: number;
  /** Drop events per second per CPU (token bucket) and burst. */
  eventRate?: number;
  eventBurst?: number;
  /** Classify each flow's first payload (encrypted or plaintext); default on. */
  classifyPayload?: boolean;
  /**
   * Deny repeats of a flow denied under the live epoch from its entry, without
   * the ipcache and the policy (bpf/lib/denied.h); default on. Off, every denied
   * packet takes the full judge (the bench compares both).
   */
  deniedShortcut?: boolean;
  /**
   * Budget of new tracked flows (and remembered fragments) per source address:
   * a token bucket of this rate per second (default 1000; 0 = no budget) and
   * burst (default 8192). A flow over it is dropped, reason `flow_budget`.
   * The host's own flows are not budgeted.
   */
  newFlowsPerSecond?: number;
  newFlowBurst?: number;
}

export interface Generation {
  generation: number;
  ipcache: readonly IpcacheEntry[];
  policy: readonly PolicyEntry[];
  /** Global audit mode: count and report, drop nothing. */
  auditAll?: boolean;
  /** Drop link-local control frames that are not IP (EAPOL, LLDP); by default they pass and are counted. */
  linkLocalDrop?: boolean;
  /** The generation has name selectors (fqdn policies): new flows look the learned addresses up; without, they skip that lookup. */
  nameSelectors?: boolean;
}

export interface FlowRecord {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family: 4 | 6;
  srcIdentity: number;
  dstIdentity: number;
  verdict: Verdict;
  reason: string;
  ruleId: number;
  packetsFwd: number;
  bytesFwd: number;
  packetsRev: number;
  bytesRev: number;
  firstSeenNs: number;
  lastSeenNs: number;
  ifindex: number;
  tcpFlags: number;
  /** What the flow's first payload looked like: pending, tls, dtls, ssh, quic, plaintext, mqtt, http, coap. */
  encryption: EncryptionClass;
  policyPort: number;
  /** CORDON_FLOW_F_* (FLOW_FLAG): which ends had a bound MAC, audit sides, encryption required. */
  flags: number;
  /** The source's bound MAC at decision (`02:00:00:00:00:07`), '' when flags has no FLOW_FLAG.SRC_MAC. */
  srcMac: string;
  /** The destination's bound MAC at decision, '' when flags has no FLOW_FLAG.DST_MAC. */
  dstMac: string;
}

/** Both flow tables as the kernel dumped them (entries FLOW_ENTRY.STRIDE bytes apart); decodeFlow() reads one. */
export interface RawFlows {
  /** Tracked connections (allowed or audited). */
  live: Buffer;
  /** Denied flows. */
  denied: Buffer;
}

export interface PairStat {
  srcIdentity: number;
  dstIdentity: number;
  verdict: Verdict;
  reason: string;
  packets: number;
  bytes: number;
}

export interface DropEvent {
  tsNs: number;
  src: string;
  dst: string;
  sport: number;
  /** Destination port, or ICMP type << 8 | code. */
  dport: number;
  protocol: number;
  family: 4 | 6;
  verdict: Verdict;
  reason: string;
  srcIdentity: number;
  dstIdentity: number;
  ruleId: number;
  ifindex: number;
  srcMac: string;
}

export interface TestRunResult {
  /** tc action: 0 TC_ACT_OK (pass), 2 TC_ACT_SHOT (drop); XDP: 2 XDP_PASS, 1 XDP_DROP. */
  action: number;
  passed: boolean;
  /** Average in-kernel run time per repeat. */
  durationNs: number;
}
