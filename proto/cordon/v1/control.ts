// SPDX-License-Identifier: Apache-2.0
/**
 * The control channel as TypeScript sees it: where control.proto is, how it is
 * loaded, the one gRPC options object shared by the controller's server, the
 * enforcer's client and the tests, and the wire shapes of its messages.
 *
 * Generated code is not committed: @grpc/proto-loader reads the .proto at start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REASON, type VERDICT, type VerdictName } from '../../../native/lib/abi';

/** Found beside this file in the checkout, or from dist/proto/cordon/v1 after `npm run build:ts`. */
export const CONTROL_PROTO_PATH = [
  path.join(__dirname, 'control.proto'),
  path.resolve(__dirname, '../../../../proto/cordon/v1/control.proto'),
].find((p) => fs.existsSync(p)) ?? path.join(__dirname, 'control.proto');

const MiB = 1024 * 1024;

/**
 * HTTP/2 keepalive of the enforcer's side of the control channel: a ping
 * timeMs after the last answer, the connection given up when an answer has not
 * come timeoutMs later. A silently dead controller host (no RST: power cut,
 * link cut, process stopped) is found within timeout + time (4 to 6 s; it was
 * 4 s + 4 s: 4 to 8 s), and the enforcer moves (issue 14: served again within
 * 10 s).
 *
 * The timeout is what tolerates a peer that is alive but does not read its
 * sockets for a while: a controller's event loop held by one long turn (a site
 * of 21,000 documents compiled: ~2.4 s on a loaded 2-core machine), or a busy
 * enforcer's. It stays 4 s, the margin it had: 2 s is less than such a turn
 * and 3 s little more; a peer lagging past it gives up a live controller, and
 * a busy fleet moving onto the others can cascade (seen in the bench when its
 * simulated enforcers' threads lagged). The interval is
 * what costs: one 17-byte PING and its ACK every 2 s per enforcer (1,500 a
 * second at 3,000 enforcers; the bench prints the controllers' idle CPU).
 */
export const KEEPALIVE = { timeMs: 2_000, timeoutMs: 4_000 } as const;
/**
 * The controller's pings of its enforcers: a silently dead enforcer host leaves
 * the connected list within ~8 s. No failover waits on it, so it stays longer.
 */
export const SERVER_KEEPALIVE = { timeMs: 4_000, timeoutMs: 4_000 } as const;

/**
 * Shared by server, client and tests. Requests (enforcer -> controller) are
 * small by construction (flow batches are cut at FLOW_BATCH_MAX_RECORDS), so the
 * server refuses anything bigger than 4 MiB with RESOURCE_EXHAUSTED before
 * decoding it; bundles (controller -> enforcer) may be large: a full snapshot
 * of maximal maps is ~60 MiB.
 */
export const CONTROL_GRPC = {
  protoPath: CONTROL_PROTO_PATH,
  package: 'cordon.v1',
  service: 'Control',
  loader: { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true } satisfies protoLoader.Options,
  requestMaxBytes: 4 * MiB,
  bundleMaxBytes: 128 * MiB,
  server: {
    'grpc.max_receive_message_length': 4 * MiB,
    'grpc.max_send_message_length': 128 * MiB,
    // The controller pings its enforcers too: a silently dead enforcer host leaves the connected list within ~8 s.
    'grpc.keepalive_time_ms': SERVER_KEEPALIVE.timeMs,
    'grpc.keepalive_timeout_ms': SERVER_KEEPALIVE.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    // Permits the enforcers' pings: at most the client's interval, or a server enforcing it (C-core does;
    // grpc-js does not) would answer GOAWAY too_many_pings.
    'grpc.http2.min_ping_interval_without_data_ms': KEEPALIVE.timeMs / 2,
  } satisfies grpc.ChannelOptions,
  client: {
    'grpc.max_receive_message_length': 128 * MiB,
    'grpc.max_send_message_length': 4 * MiB,
    // A silently dead controller host (no RST: power cut, link cut, process stopped) ends the
    // streams after at most time + timeout (~6 s), and the enforcer moves (issue 14: within 10 s).
    'grpc.keepalive_time_ms': KEEPALIVE.timeMs,
    'grpc.keepalive_timeout_ms': KEEPALIVE.timeoutMs,
    // Pings only while a call is open: the policy watch always is on the current controller's connection; the
    // standby connection to the next controller (standby.ts) costs no pings until a move puts the watch on it.
    'grpc.keepalive_permit_without_calls': 0,
    // SNI: the server certificate's CN (what we check), not the dialled address (DEP0123 for IPs).
    'grpc.ssl_target_name_override': 'cordon-controller',
    // Reconnection is ours (exponential backoff with jitter in the enforcer).
    'grpc.initial_reconnect_backoff_ms': 1000,
    'grpc.max_reconnect_backoff_ms': 30_000,
  } satisfies grpc.ChannelOptions,
  /** Subject CN of the controller's server certificate: what enforcers check instead of a host name. */
  serverName: 'cordon-controller',
} as const;

/** Upper bound on flow records per batch, so a batch stays well under requestMaxBytes. */
export const FLOW_BATCH_MAX_RECORDS = 5000;
/** Upper bound on security events per batch (~100 bytes each). */
export const FLOW_BATCH_MAX_EVENTS = 2000;

/** A decoded request that failed to parse: handlers answer INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
export interface Undecodable {
  __undecodable: string;
}
export function isUndecodable(x: unknown): x is Undecodable {
  return typeof x === 'object' && x !== null && '__undecodable' in x;
}

let cached: grpc.ServiceDefinition | null = null;

/**
 * The Control service definition. Request deserializers never throw: garbage
 * becomes an Undecodable marker the handler turns into INVALID_ARGUMENT
 * (grpc-js would otherwise answer INTERNAL, server-interceptors.js).
 */
export function controlService(): grpc.ServiceDefinition {
  if (cached) return cached;
  const def = protoLoader.loadSync(CONTROL_GRPC.protoPath, CONTROL_GRPC.loader);
  const svc = def[`${CONTROL_GRPC.package}.${CONTROL_GRPC.service}`] as unknown as grpc.ServiceDefinition;
  const wrapped: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(svc)) {
    const decode = m.requestDeserialize;
    wrapped[name] = {
      ...m,
      requestDeserialize: (buf: Buffer) => {
        try {
          return decode(buf);
        } catch (err) {
          return { __undecodable: (err as Error).message } satisfies Undecodable;
        }
      },
    };
  }
  cached = wrapped as grpc.ServiceDefinition;
  return cached;
}

/** A client constructor for the Control service. */
export function controlClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(controlService(), `${CONTROL_GRPC.package}.${CONTROL_GRPC.service}`);
}

// ---- wire shapes (camelCase, as proto-loader gives them with CONTROL_GRPC.loader) ----

export type WireVerdict = `VERDICT_${keyof typeof VERDICT}`;
export type WireReason = `DROP_REASON_${keyof typeof REASON}`;

export interface EnrollRequest { token: string; csrPem: string; name: string }
export interface EnrollResponse { certificatePem: string; caPem: string; expiresAt: number; serial: string }
export interface RenewRequest { csrPem: string }
export interface WatchRequest {
  enforcer: string;
  lastGeneration: number;
  lastHash: string;
  /** The enforcer's --label flags (absent from an enforcer that predates labels). */
  labels?: Record<string, string>;
}
export interface WireIpcacheEntry { cidr: string; identity: number; audit: boolean; mac: string }
export interface WirePolicyKey {
  srcIdentity: number;
  dstIdentity: number;
  anyProtocol: boolean;
  protocol: number;
  port: number;
  portPrefixLen: number;
}
export interface WirePolicyEntry { key: WirePolicyKey; verdict: WireVerdict; ruleId: number; encryptionRequired: boolean; scheduleRules?: number[] }
export type WireRuleAction = 'RULE_ACTION_UNSPECIFIED' | 'RULE_ACTION_ALLOW' | 'RULE_ACTION_DENY';
export type WireRuleMode = 'RULE_MODE_UNSPECIFIED' | 'RULE_MODE_ENFORCE' | 'RULE_MODE_AUDIT';
export interface WireSchedule { timezone: string; windows: string[] }
export interface WireRuleInfo { id: number; policy: string; action: WireRuleAction; index: number; mode: WireRuleMode; schedule?: WireSchedule | null }
export interface BundleSnapshot {
  identities: Record<string, number>;
  ipcache: WireIpcacheEntry[];
  policy: WirePolicyEntry[];
  rules: WireRuleInfo[];
  auditAll: boolean;
  warnings: string[];
  dnsResolvers?: string[];
}
export interface BundleDelta {
  baseGeneration: number;
  identitiesSet: Record<string, number>;
  identitiesRemoved: string[];
  ipcacheUpsert: WireIpcacheEntry[];
  ipcacheRemove: string[];
  policyUpsert: WirePolicyEntry[];
  policyRemove: WirePolicyKey[];
  rulesUpsert: WireRuleInfo[];
  rulesRemove: number[];
  auditAll: boolean;
  warnings: string[];
  dnsResolvers?: string[];
}
export interface BundleUpdate {
  generation: number;
  /** The generation's digest (model/generation/digest.ts). */
  hash: string;
  body?: 'snapshot' | 'delta';
  snapshot?: BundleSnapshot | null;
  delta?: BundleDelta | null;
  sentAt: number;
}
/** Who talked to whom: the fields every flow and event record shares (addresses as text, ports host order). */
export interface FlowTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family: number;
  srcIdentity: number;
  dstIdentity: number;
}
export interface WireFlowRecord extends FlowTuple {
  verdict: WireVerdict;
  reason: WireReason;
  ruleId: number;
  packetsFwd: number;
  bytesFwd: number;
  packetsRev: number;
  bytesRev: number;
  firstSeen: number;
  lastSeen: number;
  ifindex: number;
  /** Optional when sending (proto3 default: empty); always present when received. */
  srcMac?: string;
  /** The interface's name on the enforcer; optional when sending, always present when received. */
  interface?: string;
  /** The datapath's class of the first payload (EncryptionClass); optional when sending, always present when received. */
  encryption?: string;
  /** ICMP/ICMPv6: type << 8 | code of the message; optional when sending (sent for ICMP only), always present when received (0 otherwise). */
  policyPort?: number;
  /** The DNS name the enforcer learned dst from; optional when sending, always present when received ('' when none). */
  dstName?: string;
}
export interface WirePairCounter {
  srcIdentity: number;
  dstIdentity: number;
  srcSegment: string;
  dstSegment: string;
  verdict: WireVerdict;
  reason: WireReason;
  packets: number;
  bytes: number;
}
export interface WireSecurityEvent extends FlowTuple {
  at: number;
  verdict: WireVerdict;
  reason: WireReason;
  ruleId: number;
  ifindex: number;
  srcMac: string;
  /** The interface's name on the enforcer; optional when sending, always present when received. */
  interface?: string;
}
export interface FlowBatch {
  enforcer: string;
  seq: number;
  generation: number;
  windowStart: number;
  windowEnd: number;
  flows: WireFlowRecord[];
  pairs: WirePairCounter[];
  droppedBatches: number;
  /** Optional when sending (proto3 default: none); always present when received. */
  events?: WireSecurityEvent[];
  eventsLost?: number;
  /** The enforcer's run (StreamFlows deduplicates by enforcer, run and seq); empty: none. */
  run?: string;
}
export interface FlowAck { batches: number; lastSeq: number; duplicate?: boolean }
export interface WireReasonCount { reason: WireReason; packets: number; bytes: number }
export interface EnforcerStatus {
  enforcer: string;
  generation: number;
  mapFill: Record<string, { entries: number; max: number }>;
  health: { healthy: boolean; detail: string; interfaces: string[]; adopted: boolean; epoch: number } | null;
  drops: WireReasonCount[];
  version: string;
  certificateExpiresAt: number;
  droppedBatches: number;
}
export interface StatusAck { receivedAt: number }
export interface MudAnnouncement { enforcer: string; url: string; mac: string; address: string; source: string; interface: string }
export interface MudAck { receivedAt: number }
export interface LearnedName { name: string; address: string; expiresAt: number; selectors: string[] }
export interface FqdnReport { enforcer: string; names: LearnedName[]; total: number }

// ---- enums <-> the ABI's names ----------------------------------------------

export type { VerdictName } from '../../../native/lib/abi';
export const VERDICT_TO_WIRE: Record<VerdictName, WireVerdict> = {
  none: 'VERDICT_NONE',
  allow: 'VERDICT_ALLOW',
  deny: 'VERDICT_DENY',
  audit: 'VERDICT_AUDIT',
};
export const WIRE_TO_VERDICT: Record<string, VerdictName> = Object.fromEntries(
  Object.entries(VERDICT_TO_WIRE).map(([k, v]) => [v, k as VerdictName]),
);
export function reasonToWire(reason: string): WireReason {
  const w = `DROP_REASON_${reason.toUpperCase()}`;
  return (WIRE_REASONS as readonly string[]).includes(w) ? (w as WireReason) : 'DROP_REASON_NONE';
}
export function wireToReason(w: string): string {
  return w.startsWith('DROP_REASON_') ? w.slice('DROP_REASON_'.length).toLowerCase() : 'none';
}
/** DropReason's names, from the ABI's codes (native/lib/abi.ts REASON): DROP_REASON_<NAME>, in code order. */
export const WIRE_REASONS = (Object.keys(REASON) as Array<keyof typeof REASON>).map((k): WireReason => `DROP_REASON_${k}`);

/** Enforcer names: the certificate CN, metric label values and REST path segments. */
export const ENFORCER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
