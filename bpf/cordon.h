/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cordon kernel ABI: every struct, code and limit that crosses the boundary
 * between the eBPF program (bpf/cordon.bpf.c) and user space.
 *
 * Mirrors (keep in step when anything here changes):
 *   - native/lib/abi.ts            (the one TypeScript statement: codes, flags,
 *                                   limits, struct sizes and field offsets)
 *   - native/src/datapath.h        (includes this header directly)
 *   - proto/cordon/v1/control.proto     (Verdict and DropReason enums)
 * native/lib/abi.spec.ts compiles this header and fails on any drift of the
 * first and last (a new macro or struct must be mirrored or listed kernel-only).
 *
 * All multi-byte fields are host order unless typed __be*. IPv4 addresses are
 * stored everywhere as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one LPM trie and
 * one flow table serve both families.
 */
#ifndef CORDON_H
#define CORDON_H

#include <linux/types.h>

/* ---- identities -------------------------------------------------------- */
/* Reserved identities; segments get ids from CORDON_ID_FIRST_USER upwards. */
#define CORDON_ID_UNKNOWN 0	/* never valid in a map entry */
#define CORDON_ID_WORLD 1	/* no ipcache entry matched */
#define CORDON_ID_HOST 2	/* the enforcing host's own addresses */
#define CORDON_ID_QUARANTINE 3	/* devices moved out of their segments */
#define CORDON_ID_FIRST_USER 256

/* ---- verdicts and drop reasons ------------------------------------------ */
/* Mirrored by the Verdict enum in proto/ and VERDICT in native/lib/abi.ts. */
#define CORDON_VERDICT_NONE 0
#define CORDON_VERDICT_ALLOW 1
#define CORDON_VERDICT_DENY 2
#define CORDON_VERDICT_AUDIT 3	/* would be denied; passed because of audit mode */

/* Mirrored by the DropReason enum in proto/ and REASON in native/lib/abi.ts. */
#define CORDON_REASON_NONE 0
#define CORDON_REASON_POLICY 1		/* no allow, or an explicit deny */
#define CORDON_REASON_SPOOFED 2		/* source address bound to another MAC */
#define CORDON_REASON_MALFORMED 3	/* truncated or invalid headers */
#define CORDON_REASON_FRAGMENT 4	/* later fragment without an allowed first */
#define CORDON_REASON_NO_CONNECTION 5	/* reply-looking packet, no connection */
#define CORDON_REASON_PLAINTEXT 6	/* encryption required, payload in clear */
#define CORDON_REASON_FLOW_BUDGET 7	/* the source opened more new flows than its budget */
#define CORDON_REASON_MAX 8

/* ---- limits -------------------------------------------------------------- */
#define CORDON_MAX_IPCACHE 262144	/* host entries; as many prefixes */
#define CORDON_MAX_POLICY 524288
#define CORDON_MAX_POLICY_MASKS 262144
#define CORDON_MAX_RULES 262144		/* rule ids are < this */
#define CORDON_MAX_FLOWS 262144
#define CORDON_MAX_FRAGS 16384
#define CORDON_MAX_PAIRS 65536
#define CORDON_MAX_BUDGETS 65536	/* sources with a new-flow budget (LRU) */
#define CORDON_SLOTS 2			/* generations double-buffered */

/* ---- ipcache: address -> identity, per slot ----------------------------- */
/*
 * Host addresses (/32, /128: devices, the host) live in a hash keyed by the
 * address; shorter prefixes (segment CIDRs) in an LPM trie. A host entry is
 * the longest prefix there can be, so "hash first, then trie" is exactly
 * longest-prefix match, at a cost that does not grow with the device count.
 */
struct cordon_ipcache_key {
	__u32 prefixlen;	/* 0..128; IPv4 /n is stored as 96 + n */
	__u8 addr[16];		/* IPv6, or IPv4-mapped IPv6 */
};

struct cordon_host_key {
	__u8 addr[16];
};

#define CORDON_IPC_F_AUDIT 0x1	/* the segment is in audit mode */
#define CORDON_IPC_F_MAC 0x2	/* mac is bound: anti-spoofing applies */
#define CORDON_IPC_F_ROUTER 0x4	/* a declared router: may send IPv6 RAs and redirects */

struct cordon_ipcache_value {
	__u32 identity;
	__u32 flags;		/* CORDON_IPC_F_* */
	__u8 mac[6];
	__u16 pad;
};

/* ---- policy: (src id, dst id, proto, port prefix) -> verdict, per slot -- */
/*
 * A rule is a block of (protocol, port) space for an identity pair: one
 * port (port_plen 16), a power-of-two aligned run of ports (port_plen 1..15,
 * a range being split into such blocks by the compiler), every port of a
 * protocol (port_plen 0), or every protocol (protocol 0, port_plen
 * CORDON_PORT_PLEN_ANY_PROTO). ICMP "ports" are type << 8 | code.
 *
 * The entries sit in a hash; cordon_policy_mask tells, per (pair, protocol),
 * which port_plen values exist, so a lookup tries only those, longest
 * first, then the any-protocol entry: longest-prefix match in a few hash
 * lookups, whatever the number of rules.
 *
 * Longest prefix wins, so the compiler resolves precedence before it writes
 * entries: an entry contained in an enforced deny carries DENY, one contained
 * in an audit deny carries AUDIT, so that the longest match is always right.
 */
#define CORDON_PORT_PLEN_ANY_PROTO 0xff

struct cordon_policy_key {
	__u32 src_identity;
	__u32 dst_identity;
	__u8 protocol;		/* 0 with port_plen ANY_PROTO */
	__u8 port_plen;		/* 0..16, or CORDON_PORT_PLEN_ANY_PROTO */
	__be16 port;		/* first port of the block (low bits zero) */
};

#define CORDON_POL_F_ENCRYPT_REQUIRED 0x1

struct cordon_policy_value {
	__u32 rule_id;		/* index into cordon_rule_stats; 0 = default deny */
	__u8 verdict;		/* CORDON_VERDICT_ALLOW | DENY | AUDIT */
	__u8 flags;		/* CORDON_POL_F_* */
	__u16 pad;
};

struct cordon_policy_mask_key {
	__u32 src_identity;
	__u32 dst_identity;
	__u8 protocol;
	__u8 pad[3];
};

struct cordon_policy_mask {
	__u32 port_plens;	/* bit n set: entries with port_plen n exist */
};

/* ---- state: which slot is live (array, one entry) ------------------------ */
#define CORDON_STATE_F_AUDIT_ALL 0x1	/* global audit mode: never drop */
#define CORDON_STATE_F_LINK_LOCAL_DROP 0x2	/* drop EAPOL and LLDP frames (default: pass, counted) */
#define CORDON_STATE_F_NAMES 0x4	/* the generation has name selectors: new flows look learned addresses up */

struct cordon_state {
	__u64 epoch;		/* bumped on every swap; live slot = epoch & 1 */
	__u64 generation;	/* the controller's generation in the live slot */
	__u32 flags;		/* CORDON_STATE_F_* */
	__u32 pad;
};

/*
 * ---- flows: connection tracking and per-flow counters (LRU hash) --------
 * A table per family, as Cilium's ct4 and ct6: an IPv4 flow's key is 16
 * bytes (struct cordon_flow_key4, in cordon_flows4 and cordon_denied4), an
 * IPv6 flow's 40 (struct cordon_flow_key, in cordon_flows and
 * cordon_denied). The kernel hashes the whole key on every lookup: a
 * 16-byte key costs a third of a 40-byte one's hash. User space reads both
 * as struct cordon_flow_key, an IPv4 flow's addresses IPv4-mapped
 * (native/src/read_maps.cc).
 */
struct cordon_flow_key4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;		/* as in struct cordon_flow_key */
	__be16 dport;
	__u8 protocol;
	__u8 kind;		/* CORDON_FLOW_KIND_* */
	__u8 pad[2];
};

struct cordon_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;		/* ICMP echo: identifier for requests, 0 for replies */
	__be16 dport;		/* ICMP echo: 0 for requests, identifier for replies */
	__u8 protocol;
	__u8 family;		/* 4 or 6 */
	__u8 kind;		/* CORDON_FLOW_KIND_*: keeps other ICMP apart from echo */
	__u8 pad;
};

/*
 * ICMP messages other than echo carry type << 8 | code where echo carries
 * its identifier: the kind keeps an echo id from ever naming the same flow.
 */
#define CORDON_FLOW_KIND_PORTS 0	/* TCP, UDP, ICMP echo, other protocols */
#define CORDON_FLOW_KIND_ICMP_MESSAGE 1

/* TCP state bits in cordon_flow_value.tcp_flags */
#define CORDON_TCP_SYN_FWD 0x01
#define CORDON_TCP_SYN_REV 0x02
#define CORDON_TCP_FIN_FWD 0x04
#define CORDON_TCP_FIN_REV 0x08
#define CORDON_TCP_RST 0x10

struct cordon_flow_value {
	__u64 first_seen_ns;	/* bpf_ktime_get_ns() clock */
	__u64 last_seen_ns;
	__u64 packets_fwd;
	__u64 bytes_fwd;
	__u64 packets_rev;
	__u64 bytes_rev;
	__u64 epoch;		/* epoch under which verdict was decided */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 ifindex;		/* interface of the first packet */
	__u8 verdict;		/* CORDON_VERDICT_* */
	__u8 reason;		/* CORDON_REASON_* (when verdict is DENY) */
	__u8 tcp_flags;		/* CORDON_TCP_* */
	__u8 encryption;	/* CORDON_ENC_* (classification of first payload) */
	__be16 policy_port;	/* port (ICMP: type << 8 | code) the policy judged */
	__u8 enc_state;		/* CORDON_ENC_S_*: how far an encrypted handshake got */
	__u8 flags;		/* CORDON_FLOW_F_*, from the ipcache at decision */
	__u8 src_mac[6];	/* bindings of both ends at decision, so packets */
	__u8 dst_mac[6];	/* of a known flow are checked without the ipcache */
	__u32 enc_next_seq;	/* TCP: sequence number where the next TLS record of
				 * the forward direction starts (CORDON_ENC_S_FWD_RECORD) */
	/*
	 * Pair figures of a connection (cordon_flows only; see "counters"):
	 * of the packets counted above, those also counted in cordon_pair_stats
	 * by the kernel (a connection's first packet, the packet that re-judged
	 * it, a refused fragment), and, of the others, how many were counted
	 * before the decision now recorded (at its epoch) was made.
	 */
	__u64 paired_packets;
	__u64 paired_bytes;
	__u64 decided_packets;	/* (packets - paired_packets) when the decision was made */
	__u64 decided_bytes;
};

/*
 * A flow whose rule requires encryption is judged on every payload until its
 * handshake is established both ways: the forward direction started with an
 * encrypted class and the reverse direction answered with one. Until then a
 * forward payload must continue the first TLS record or start another one.
 */
#define CORDON_ENC_S_REV_SEEN 0x1	/* the reverse direction answered encrypted */
#define CORDON_ENC_S_FWD_RECORD 0x2	/* enc_next_seq holds the next record's start */

#define CORDON_FLOW_F_SRC_MAC 0x1	/* src_mac is bound */
#define CORDON_FLOW_F_DST_MAC 0x2	/* dst_mac is bound */
#define CORDON_FLOW_F_SRC_AUDIT 0x4	/* the source's segment is in audit mode */
#define CORDON_FLOW_F_DST_AUDIT 0x8
#define CORDON_FLOW_F_ENCRYPT_REQUIRED 0x10	/* the deciding rule wants encryption */

/*
 * What the first payload of a flow's forward direction looked like
 * (cordon_flow_value.encryption). Mirrored by ENCRYPTION in native/lib/abi.ts.
 */
#define CORDON_ENC_PENDING 0	/* no payload seen yet (or classification off) */
#define CORDON_ENC_TLS 1
#define CORDON_ENC_DTLS 2
#define CORDON_ENC_SSH 3
#define CORDON_ENC_QUIC 4
#define CORDON_ENC_PLAINTEXT 5	/* not recognised as encrypted */
#define CORDON_ENC_MQTT 6	/* plaintext: MQTT CONNECT */
#define CORDON_ENC_HTTP 7	/* plaintext: an HTTP request or response line */
#define CORDON_ENC_COAP 8	/* plaintext: CoAP */
#define CORDON_ENC_FIRST_PLAINTEXT CORDON_ENC_PLAINTEXT

/* ---- fragments: first fragment's verdict for later ones (LRU hash) ------ */
struct cordon_frag_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 id;
	__u8 protocol;
	__u8 pad[3];
};

struct cordon_frag_value {
	__u64 last_seen_ns;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u8 verdict;
	__u8 pad[3];
};

/* ---- new-flow budget per source address (LRU hash) ----------------------- */
/*
 * A token bucket per source address: each new tracked flow (and each
 * remembered fragment) takes one token, given back when the flow's first
 * reply comes (so it bounds unanswered flows); an empty bucket refuses the flow
 * (CORDON_REASON_FLOW_BUDGET), so one device cannot fill the tables and evict
 * everyone else's connections. The host's own flows are not budgeted.
 */
struct cordon_budget_key {
	__u8 addr[16];
};

struct cordon_budget_value {
	__u64 tokens;		/* in 1e-9 tokens: one flow costs 1e9 */
	__u64 last_ns;
};

/* ---- fqdn: learned addresses -> name selectors (one hash, pinned) ------- */
/*
 * What the enforcer's DNS proxy learned: an address a device resolved through
 * a declared resolver, with the identities of every name selector (policy
 * `{ fqdn }` pattern) that a name of the answer matched. Not per slot: a
 * pattern keeps its identity across generations, so entries outlive swaps
 * (and, pinned, an enforcer restart). A new flow to the address is judged
 * against its ipcache identity and each selector; the strongest verdict wins
 * (enforced deny, then audit, then allow), and the winning identity is the
 * flow's destination. After expires_ns only flows already tracked are
 * re-judged with it; new ones are not.
 */
#define CORDON_MAX_FQDN 65536		/* learned addresses */
#define CORDON_FQDN_SELECTORS 6		/* selectors per learned address */

struct cordon_fqdn_value {
	__u64 expires_ns;	/* bpf_ktime_get_ns() clock */
	__u32 count;		/* selectors[0..count) hold identities */
	__u32 selectors[CORDON_FQDN_SELECTORS];
	__u32 pad;
};

/* ---- dns: device queries to declared resolvers, steered to the proxy ----- */
/*
 * An array of one entry. On ingress, an allowed UDP packet to port 53 of
 * resolvers[i] has its destination rewritten to (proxy address of its
 * family, port_base + i), where the enforcer's proxy listens; on egress the
 * proxy's answer from (proxy, port_base + i) gets (resolvers[i], 53) back as
 * its source, so the device sees its resolver answer, and only after the
 * proxy has written what the answer teaches into cordon_fqdn. port_base 0:
 * steering off.
 */
#define CORDON_MAX_RESOLVERS 16

struct cordon_dns_config {
	__u8 proxy4[16];	/* IPv4-mapped; all zero: IPv4 queries not steered */
	__u8 proxy6[16];	/* all zero: IPv6 queries not steered */
	__u8 resolvers[CORDON_MAX_RESOLVERS][16];
	__u32 count;		/* resolvers[0..count) are declared */
	__u16 port_base;	/* host order */
	__u16 pad;
};

/* ---- counters ------------------------------------------------------------ */
struct cordon_counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * Link-local control frames that are not IP (802.1X/EAPOL 0x888E, LLDP
 * 0x88CC) passed: one per-CPU counter (array of one entry).
 */
#define CORDON_ETH_P_EAPOL 0x888E
#define CORDON_ETH_P_LLDP 0x88CC

/*
 * Per identity pair and outcome (LRU per-CPU hash). A packet of a tracked
 * connection (cordon_flows) judged from its entry is not counted here but in
 * its entry: its pair figure is the entry's packets - paired_packets, under
 * the entry's identities, verdict and reason, from decided_packets on for the
 * decision of the entry's epoch (the part before belongs to the decision it
 * replaced). The enforcer's flow collector adds the increments of both.
 */
struct cordon_pair_key {
	__u32 src_identity;
	__u32 dst_identity;
	__u8 verdict;
	__u8 reason;
	__u16 pad;
};

/*
 * In front of that hash, per CPU: a direct-mapped array of pair counters,
 * the slot chosen by a hash of the key and taken by the first pair that
 * lands in it (cordon_pair_slot_of). A slot is never given back, so it counts
 * one pair for good; a pair whose slot another holds is counted in the hash.
 * An array lookup is a few instructions where the hash's is ~20 ns. A pair's
 * figure is the sum of its slots (one a CPU at most) and its hash entry.
 */
#define CORDON_PAIR_SLOT_BITS 10
#define CORDON_PAIR_SLOTS (1 << CORDON_PAIR_SLOT_BITS)

struct cordon_pair_slot {
	struct cordon_pair_key key;
	__u32 used;
	struct cordon_counter c;
};

/* ---- events (ring buffer) ------------------------------------------------ */
struct cordon_event {
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;		/* the port policy judged (ICMP: type << 8 | code) */
	__u8 protocol;
	__u8 family;
	__u8 verdict;
	__u8 reason;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 ifindex;
	__u8 smac[6];
	__u16 pad;
};

/* Per-CPU token bucket that keeps events from flooding user space. */
struct cordon_event_budget {
	__u64 tokens;
	__u64 last_ns;
	__u64 suppressed;
};

#endif /* CORDON_H */
