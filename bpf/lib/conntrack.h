/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flows: connection tracking and per-flow counters.
 *
 * Two LRU tables with one layout: cordon_flows holds connections that were
 * allowed (or passed in audit mode), and is what lets replies through;
 * cordon_denied holds denied flows for their counters. Keeping them apart
 * means a flood of denied packets with random tuples evicts other denied
 * entries, never the connections that replies depend on.
 */
#ifndef CORDON_LIB_CONNTRACK_H
#define CORDON_LIB_CONNTRACK_H

#include "common.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct cordon_flow_key);
	__type(value, struct cordon_flow_value);
	__uint(max_entries, CORDON_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct cordon_flow_key);
	__type(value, struct cordon_flow_value);
	__uint(max_entries, CORDON_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_denied SEC(".maps");

/* Timeouts, set by user space before load. */
const volatile __u64 ct_timeout_tcp_ns = 21600ULL * NSEC_PER_SEC;
const volatile __u64 ct_timeout_tcp_syn_ns = 60ULL * NSEC_PER_SEC;
const volatile __u64 ct_timeout_tcp_close_ns = 10ULL * NSEC_PER_SEC;
const volatile __u64 ct_timeout_udp_ns = 120ULL * NSEC_PER_SEC;
const volatile __u64 ct_timeout_other_ns = 60ULL * NSEC_PER_SEC;

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* A TCP SYN without ACK: the opening of a connection, whichever way it goes. */
static __always_inline int tcp_opening(const struct cordon_pkt *p)
{
	return p->protocol == IPPROTO_TCP &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* A TCP packet other than an opening SYN, or an ICMP echo reply. */
static __always_inline int looks_like_reply(const struct cordon_pkt *p)
{
	if (p->protocol == IPPROTO_TCP)
		return (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN;
	return p->icmp_kind == ICMP_KIND_ECHO_REPLY;
}

static __always_inline __u8 flow_kind(const struct cordon_pkt *p)
{
	return p->icmp_kind == ICMP_KIND_OTHER ? CORDON_FLOW_KIND_ICMP_MESSAGE :
						  CORDON_FLOW_KIND_PORTS;
}

static __always_inline void flow_key_fill(struct cordon_flow_key *k,
					 const struct cordon_pkt *p,
					 const __u8 *saddr, const __u8 *daddr,
					 __be16 sport, __be16 dport)
{
	addr_copy(k->saddr, saddr);
	addr_copy(k->daddr, daddr);
	k->sport = sport;
	k->dport = dport;
	k->protocol = p->protocol;
	k->family = p->family;
	k->kind = flow_kind(p);
	k->pad = 0;
}

static __always_inline void flow_key_of(struct cordon_flow_key *k,
					const struct cordon_pkt *p)
{
	flow_key_fill(k, p, p->saddr, p->daddr, p->sport, p->dport);
}

/* The key the other direction of this packet's connection was stored under. */
static __always_inline void flow_key_reverse(struct cordon_flow_key *k,
					     const struct cordon_pkt *p)
{
	flow_key_fill(k, p, p->daddr, p->saddr, p->dport, p->sport);
}

static __always_inline __u64 flow_timeout(const struct cordon_flow_value *v,
					  __u8 protocol)
{
	if (protocol == IPPROTO_TCP) {
		if (v->tcp_flags & CORDON_TCP_RST)
			return ct_timeout_tcp_close_ns;
		if ((v->tcp_flags & (CORDON_TCP_FIN_FWD | CORDON_TCP_FIN_REV)) ==
		    (CORDON_TCP_FIN_FWD | CORDON_TCP_FIN_REV))
			return ct_timeout_tcp_close_ns;
		if (!(v->tcp_flags & CORDON_TCP_SYN_REV))
			return ct_timeout_tcp_syn_ns;
		return ct_timeout_tcp_ns;
	}
	if (protocol == IPPROTO_UDP)
		return ct_timeout_udp_ns;
	return ct_timeout_other_ns;
}

/*
 * now may be the coarse clock (bpf_ktime_get_coarse_ns: the fast path's), up
 * to a tick behind a last_seen_ns another packet set from the precise one:
 * the difference is signed, and such an entry is not expired.
 */
static __always_inline int flow_expired(const struct cordon_flow_value *v,
					__u8 protocol, __u64 now)
{
	return (__s64)(now - v->last_seen_ns) > (__s64)flow_timeout(v, protocol);
}

/* The packet just counted in v was also counted in cordon_pair_stats (cordon.h "counters"). */
static __always_inline void flow_paired(struct cordon_flow_value *v, __u32 len)
{
	__sync_fetch_and_add(&v->paired_packets, 1);
	__sync_fetch_and_add(&v->paired_bytes, len);
}

/* A new decision is about to be recorded in v: the pair figures so far were the old one's. */
static __always_inline void flow_redecided(struct cordon_flow_value *v)
{
	v->decided_packets = v->packets_fwd + v->packets_rev - v->paired_packets;
	v->decided_bytes = v->bytes_fwd + v->bytes_rev - v->paired_bytes;
}

/* Counters and TCP state of one packet; entries are shared by all CPUs. */
static __always_inline void flow_account(struct cordon_flow_value *v,
					 const struct cordon_pkt *p, int reply,
					 __u64 now)
{
	__u8 bits = 0;

	if (p->protocol == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_FLAG_SYN)
			bits |= reply ? CORDON_TCP_SYN_REV : CORDON_TCP_SYN_FWD;
		if (p->tcp_flags & TCP_FLAG_FIN)
			bits |= reply ? CORDON_TCP_FIN_REV : CORDON_TCP_FIN_FWD;
		if (p->tcp_flags & TCP_FLAG_RST)
			bits |= CORDON_TCP_RST;
		/* BPF has no 8-bit atomics; bits are only ever set, and a
		 * lost race costs at worst a longer timeout. */
		if (bits && (v->tcp_flags & bits) != bits)
			v->tcp_flags |= bits;
	}
	if (reply) {
		__sync_fetch_and_add(&v->packets_rev, 1);
		__sync_fetch_and_add(&v->bytes_rev, p->len);
	} else {
		__sync_fetch_and_add(&v->packets_fwd, 1);
		__sync_fetch_and_add(&v->bytes_fwd, p->len);
	}
	/* written once a tick at most on the coarse clock, and never backwards */
	if ((__s64)(now - v->last_seen_ns) > 0)
		v->last_seen_ns = now;
}

#endif
