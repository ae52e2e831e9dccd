// SPDX-License-Identifier: Apache-2.0
/**
 * The kernel ABI of bpf/cordon.h, seen from TypeScript: its codes, flags and
 * limits, and the byte layout of every struct user space writes or reads.
 * This file is the only TypeScript statement of the header: everything else
 * (the facade's decoders, the enforcer's flow collector, the wire's reason
 * names, the console's filters) derives from it; the encoders of these layouts
 * are in encode.ts, so this file needs nothing of Node. abi.spec.ts compiles a program
 * against bpf/cordon.h and fails on any difference: a value, an offset, a
 * size, a field or a code that one side has and the other has not.
 */
/** CORDON_ID_*: reserved identities; segments get ids from FIRST_USER upwards. */
export const IDENTITY = {
  UNKNOWN: 0,
  WORLD: 1,
  HOST: 2,
  QUARANTINE: 3,
  FIRST_USER: 256,
} as const;

/** CORDON_VERDICT_*. */
export const VERDICT = { NONE: 0, ALLOW: 1, DENY: 2, AUDIT: 3 } as const;
export type VerdictCode = (typeof VERDICT)[keyof typeof VERDICT];
export type VerdictName = Lowercase<keyof typeof VERDICT>;
export const VERDICT_NAME: Record<number, VerdictName> = namesOf(VERDICT);

/** CORDON_REASON_* (CORDON_REASON_MAX is REASON_COUNT). */
export const REASON = {
  NONE: 0,
  POLICY: 1,
  SPOOFED: 2,
  MALFORMED: 3,
  FRAGMENT: 4,
  NO_CONNECTION: 5,
  PLAINTEXT: 6,
  FLOW_BUDGET: 7,
} as const;
export type ReasonName = Lowercase<keyof typeof REASON>;
/** Reason codes are below this (the reason counters' array has this many entries). */
export const REASON_COUNT = 8;
export const REASON_NAME: Record<number, ReasonName> = namesOf(REASON);
/** The names of the reasons a packet is dropped for (every reason but none): metric label values. */
export const DROP_REASON_NAMES: readonly ReasonName[] = Object.values(REASON_NAME).filter((r) => r !== 'none');

/** CORDON_ENC_*, by code: classes of a flow's first payload (cordon_flow_value.encryption). */
export const ENCRYPTION_NAME = ['pending', 'tls', 'dtls', 'ssh', 'quic', 'plaintext', 'mqtt', 'http', 'coap'] as const;
export type EncryptionClass = (typeof ENCRYPTION_NAME)[number];
/** Classes that are traffic in clear (CORDON_ENC_FIRST_PLAINTEXT and after). */
export const PLAINTEXT_CLASSES: readonly EncryptionClass[] = ['plaintext', 'mqtt', 'http', 'coap'];
/** Classes that are encrypted (after pending, before CORDON_ENC_FIRST_PLAINTEXT). */
export const ENCRYPTED_CLASSES = ['tls', 'dtls', 'ssh', 'quic'] as const satisfies readonly EncryptionClass[];

/** CORDON_MAX_*: entries each map holds. */
export const LIMITS = {
  IPCACHE: 262144,
  POLICY: 524288,
  POLICY_MASKS: 262144,
  RULES: 262144,
  FLOWS: 262144,
  FRAGS: 16384,
  PAIRS: 65536,
  BUDGETS: 65536,
  FQDN: 65536,
  RESOLVERS: 16,
} as const;
/** CORDON_FQDN_SELECTORS: name selectors one learned address holds. */
export const FQDN_SELECTORS = 6;

/** CORDON_IPC_F_*, CORDON_POL_F_*, CORDON_STATE_F_*, CORDON_FLOW_F_*, CORDON_TCP_*, CORDON_ENC_S_*. */
export const IPC_FLAG = { AUDIT: 0x1, MAC: 0x2, ROUTER: 0x4 } as const;
export const POLICY_FLAG = { ENCRYPT_REQUIRED: 0x1 } as const;
export const STATE_FLAG = { AUDIT_ALL: 0x1, LINK_LOCAL_DROP: 0x2, NAMES: 0x4 } as const;
export const FLOW_FLAG = { SRC_MAC: 0x1, DST_MAC: 0x2, SRC_AUDIT: 0x4, DST_AUDIT: 0x8, ENCRYPT_REQUIRED: 0x10 } as const;
export const TCP_FLAG = { SYN_FWD: 0x01, SYN_REV: 0x02, FIN_FWD: 0x04, FIN_REV: 0x08, RST: 0x10 } as const;
export const ENC_STATE = { REV_SEEN: 0x1, FWD_RECORD: 0x2 } as const;
/** CORDON_PORT_PLEN_ANY_PROTO: port_plen of an entry for every protocol. */
export const PORT_PLEN_ANY_PROTO = 0xff;

/**
 * Every struct of cordon.h that user space reads or writes: its size, and the
 * byte offset of each field (pad fields left out), under the C names.
 */
export const LAYOUT = {
  cordon_ipcache_key: { size: 20, prefixlen: 0, addr: 4 },
  cordon_host_key: { size: 16, addr: 0 },
  cordon_ipcache_value: { size: 16, identity: 0, flags: 4, mac: 8 },
  cordon_policy_key: { size: 12, src_identity: 0, dst_identity: 4, protocol: 8, port_plen: 9, port: 10 },
  cordon_policy_value: { size: 8, rule_id: 0, verdict: 4, flags: 5 },
  cordon_policy_mask_key: { size: 12, src_identity: 0, dst_identity: 4, protocol: 8 },
  cordon_policy_mask: { size: 4, port_plens: 0 },
  cordon_state: { size: 24, epoch: 0, generation: 8, flags: 16 },
  cordon_flow_key: { size: 40, saddr: 0, daddr: 16, sport: 32, dport: 34, protocol: 36, family: 37, kind: 38 },
  cordon_flow_value: {
    size: 128,
    first_seen_ns: 0,
    last_seen_ns: 8,
    packets_fwd: 16,
    bytes_fwd: 24,
    packets_rev: 32,
    bytes_rev: 40,
    epoch: 48,
    src_identity: 56,
    dst_identity: 60,
    rule_id: 64,
    ifindex: 68,
    verdict: 72,
    reason: 73,
    tcp_flags: 74,
    encryption: 75,
    policy_port: 76,
    enc_state: 78,
    flags: 79,
    src_mac: 80,
    dst_mac: 86,
    enc_next_seq: 92,
    paired_packets: 96,
    paired_bytes: 104,
    decided_packets: 112,
    decided_bytes: 120,
  },
  cordon_budget_key: { size: 16, addr: 0 },
  cordon_budget_value: { size: 16, tokens: 0, last_ns: 8 },
  cordon_counter: { size: 16, packets: 0, bytes: 8 },
  cordon_fqdn_value: { size: 40, expires_ns: 0, count: 8, selectors: 12 },
  cordon_dns_config: { size: 296, proxy4: 0, proxy6: 16, resolvers: 32, count: 288, port_base: 292 },
  cordon_pair_key: { size: 12, src_identity: 0, dst_identity: 4, verdict: 8, reason: 9 },
  cordon_event: {
    size: 72,
    ts_ns: 0,
    saddr: 8,
    daddr: 24,
    sport: 40,
    dport: 42,
    protocol: 44,
    family: 45,
    verdict: 46,
    reason: 47,
    src_identity: 48,
    dst_identity: 52,
    rule_id: 56,
    ifindex: 60,
    smac: 64,
  },
} as const;

/** Struct sizes, by the names the encoders use. */
export const SIZE = {
  IPCACHE_KEY: LAYOUT.cordon_ipcache_key.size,
  HOST_KEY: LAYOUT.cordon_host_key.size,
  IPCACHE_VALUE: LAYOUT.cordon_ipcache_value.size,
  POLICY_KEY: LAYOUT.cordon_policy_key.size,
  POLICY_VALUE: LAYOUT.cordon_policy_value.size,
  POLICY_MASK_KEY: LAYOUT.cordon_policy_mask_key.size,
  POLICY_MASK: LAYOUT.cordon_policy_mask.size,
  FLOW_KEY: LAYOUT.cordon_flow_key.size,
  FLOW_VALUE: LAYOUT.cordon_flow_value.size,
  PAIR_KEY: LAYOUT.cordon_pair_key.size,
  COUNTER: LAYOUT.cordon_counter.size,
  EVENT: LAYOUT.cordon_event.size,
  STATE: LAYOUT.cordon_state.size,
  BUDGET_KEY: LAYOUT.cordon_budget_key.size,
  BUDGET_VALUE: LAYOUT.cordon_budget_value.size,
  FQDN_VALUE: LAYOUT.cordon_fqdn_value.size,
  DNS_CONFIG: LAYOUT.cordon_dns_config.size,
} as const;

const FK = LAYOUT.cordon_flow_key;
const FV = LAYOUT.cordon_flow_value;
/**
 * Where things are in one entry of a raw flow dump: the key (struct
 * cordon_flow_key) then the value (struct cordon_flow_value), back to back,
 * STRIDE bytes apart. Offsets are from the entry's start. Bytes
 * [0, IDENTITY_END) are the 5-tuple and first_seen_ns: what tells one
 * connection from another, also when a 5-tuple is reused later.
 */
export const FLOW_ENTRY = {
  STRIDE: FK.size + FV.size,
  IDENTITY_END: FK.size + FV.first_seen_ns + 8,
  VALUE: FK.size,
  FIRST_SEEN: FK.size + FV.first_seen_ns,
  LAST_SEEN: FK.size + FV.last_seen_ns,
  PACKETS_FWD: FK.size + FV.packets_fwd,
  BYTES_FWD: FK.size + FV.bytes_fwd,
  PACKETS_REV: FK.size + FV.packets_rev,
  BYTES_REV: FK.size + FV.bytes_rev,
  EPOCH: FK.size + FV.epoch,
  SRC_IDENTITY: FK.size + FV.src_identity,
  DST_IDENTITY: FK.size + FV.dst_identity,
  VERDICT: FK.size + FV.verdict,
  REASON: FK.size + FV.reason,
  PAIRED_PACKETS: FK.size + FV.paired_packets,
  PAIRED_BYTES: FK.size + FV.paired_bytes,
  DECIDED_PACKETS: FK.size + FV.decided_packets,
  DECIDED_BYTES: FK.size + FV.decided_bytes,
  IFINDEX: FK.size + FV.ifindex,
  FLAGS: FK.size + FV.flags,
  SRC_MAC: FK.size + FV.src_mac,
  DST_MAC: FK.size + FV.dst_mac,
} as const;

/** code -> lower-case name of a CORDON_* group (VERDICT, REASON). */
function namesOf<K extends string>(group: Record<K, number>): Record<number, Lowercase<K>> {
  return Object.fromEntries(Object.entries(group).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, Lowercase<K>>;
}

/** An address -> identity entry of a generation (a segment CIDR or a device address). */
export interface IpcacheEntry {
  /** CIDR, IPv4 or IPv6 (`10.1.0.0/16`, `fd00::7/128`); a bare address means a host route. */
  cidr: string;
  identity: number;
  /** The segment is in audit mode. */
  audit?: boolean;
  /** Bound MAC (`02:00:00:00:00:07`): packets from this address with another MAC are spoofed. */
  mac?: string;
  /** A declared router: may send IPv6 router advertisements and redirects onto its segment. */
  router?: boolean;
}

/** A policy entry: identity pair, protocol and a port prefix, and what it decides. */
export interface PolicyEntry {
  srcIdentity: number;
  dstIdentity: number;
  /** IP protocol number, or null for any protocol. */
  protocol: number | null;
  /** Port (ICMP: type << 8 | code) and how many of its 16 bits matter; omitted = every port. */
  port?: number;
  portPrefixLen?: number;
  verdict: typeof VERDICT.ALLOW | typeof VERDICT.DENY | typeof VERDICT.AUDIT;
  ruleId: number;
  encryptionRequired?: boolean;
  /**
   * Not in the kernel: an allow that holds only while a schedule is open names
   * the rules whose schedules open it (RuleInfo.schedule); the enforcer leaves
   * the entry out of the datapath while all of them are closed.
   */
  scheduleRules?: number[];
}
