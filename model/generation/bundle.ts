// SPDX-License-Identifier: Apache-2.0
/**
 * One policy generation, as every part of Cordon holds it: the compiler emits
 * it, the store persists it (and the delta to it), the control channel sends
 * it (proto/cordon/v1/bundle.ts maps it to the wire and back, nothing else),
 * and the enforcer applies and keeps it. One shape, one delta (delta.ts), one
 * digest (digest.ts), one identity -> name mapping (names.ts).
 */
import type { IpcacheEntry, PolicyEntry } from '../../native/lib/abi';
import type { ScheduleSpec } from '../schedule/parse';

/** What a rule id stands for: the rule counters and traces name it by this. */
export interface RuleInfo {
  ruleId: number;
  /** The Policy document it comes from. */
  policy: string;
  action: 'allow' | 'deny';
  /** Index in the policy's allow or deny list. */
  index: number;
  mode: 'enforce' | 'audit';
  /** An allow of a scheduled policy: when it holds (model/schedule/). */
  schedule?: ScheduleSpec;
}

export interface Bundle {
  generation: number;
  /** The digest of the content (digest.ts): what the enforcer checks after applying an update. */
  hash: string;
  /** Segment (and built-in) names -> identity numbers. */
  identities: Record<string, number>;
  /** Sorted by address in the 128-bit space, then prefix length (order.ts). */
  ipcache: IpcacheEntry[];
  /** Grouped by identity pair (src, dst), then by inner key (keys.ts). */
  policy: PolicyEntry[];
  /** By rule id. */
  rules: RuleInfo[];
  /** For display; not part of the digest. */
  warnings: string[];
  /** Global audit mode (the datapath's flag): count what would be dropped, drop nothing. No document sets it yet. */
  auditAll?: boolean;
  /**
   * The resolvers devices use (Segments' spec.dns), sorted, absent when none:
   * the enforcers learn names from their answers only (DESIGN.md "Names").
   */
  dnsResolvers?: string[];
}

/** The key of a policy entry (what the datapath map is keyed by). */
export interface PolicyKeyRef {
  srcIdentity: number;
  dstIdentity: number;
  protocol: number | null;
  port?: number;
  portPrefixLen?: number;
}

/**
 * The changes from generation fromGeneration to toGeneration: what the store
 * keeps per generation and what an enforcer holding fromGeneration receives.
 */
export interface BundleDelta {
  fromGeneration: number;
  toGeneration: number;
  /** Digest of the bundle the delta leads to; applyDelta checks it. */
  hash: string;
  identities: { upsert: Record<string, number>; remove: string[] };
  ipcache: { upsert: IpcacheEntry[]; remove: string[] /* cidrs */ };
  policy: { upsert: PolicyEntry[]; remove: PolicyKeyRef[] };
  rules: { upsert: RuleInfo[]; remove: number[] /* rule ids */ };
  warnings: string[];
  auditAll?: boolean;
  /** The new generation's resolvers (the whole list), absent when none. */
  dnsResolvers?: string[];
}
