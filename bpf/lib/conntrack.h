/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flows: connection tracking and per-flow counters.
 *
 * Two LRU tables with one layout: cordon_flows holds connections that were
 * allowed (or passed in audit mode), and is what lets replies through;
 * cordon_denied holds denied flows for their counters. Keeping them apart
 * means a flood of denied packets with random tuples evicts other denied
 * entries, never the connections that replies depend on. Each is two maps,
 * a family each (cordon.h "flows"): the 4 ones IPv4's, with 16-byte keys.
 */
#ifndef CORDON_LIB_CONNTRACK_H
#define CORDON_LIB_CONNTRACK_H

#include "common.h"
#include "parse.h"

#define FLOW_TABLE(name, key_type)					\
	struct {							\
		__uint(type, BPF_MAP_TYPE_LRU_HASH);			\
		__type(key, key_type);					\
		__type(value, struct cordon_flow_value);		\
		__uint(max_entries, CORDON_MAX_FLOWS);			\
		__uint(pinning, LIBBPF_PIN_BY_NAME);			\
	} name SEC(".maps")

FLOW_TABLE(cordon_flows4, struct cordon_flow_key4);
FLOW_TABLE(cordon_flows, struct cordon_flow_key);
FLOW_TABLE(cordon_denied4, struct cordon_flow_key4);
FLOW_TABLE(cordon_denied, struct cordon_flow_key);

/* A flow's key in its family's table: v4 when the packet is IPv4, v6 otherwise. */
union flow_key {
	struct cordon_flow_key4 v4;
	struct cordon_flow_key v6;
};

/* Which of the two tables a flow is looked up or kept in. */
enum flow_table { FLOWS, DENIED };

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

/* saddr, daddr: 16 bytes, an IPv4 address IPv4-mapped (as in struct cordon_pkt). */
static __always_inline void flow_key_fill(union flow_key *k, __u8 family,
					 __u8 protocol, __u8 kind,
					 const __u8 *saddr, const __u8 *daddr,
					 __be16 sport, __be16 dport)
{
	if (family == 4) {
		k->v4.saddr = *(const __be32 *)(saddr + 12);
		k->v4.daddr = *(const __be32 *)(daddr + 12);
		k->v4.sport = sport;
		k->v4.dport = dport;
		k->v4.protocol = protocol;
		k->v4.kind = kind;
		k->v4.pad[0] = 0;
		k->v4.pad[1] = 0;
		return;
	}
	addr_copy(k->v6.saddr, saddr);
	addr_copy(k->v6.daddr, daddr);
	k->v6.sport = sport;
	k->v6.dport = dport;
	k->v6.protocol = protocol;
	k->v6.family = family;
	k->v6.kind = kind;
	k->v6.pad = 0;
}

static __always_inline void flow_key_of(union flow_key *k,
					const struct cordon_pkt *p)
{
	flow_key_fill(k, p->family, p->protocol, flow_kind(p), p->saddr,
		      p->daddr, p->sport, p->dport);
}

/* The key the other direction of this packet's connection was stored under. */
static __always_inline void flow_key_reverse(union flow_key *k,
					     const struct cordon_pkt *p)
{
	flow_key_fill(k, p->family, p->protocol, flow_kind(p), p->daddr,
		      p->saddr, p->dport, p->sport);
}

/*
 * A helper call on one map, in assembly: clang would otherwise merge the
 * calls of flow_lookup and flow_insert on different maps into one call on a
 * map chosen at run time, which the verifier no longer inlines nor calls
 * directly (it poisons the call's map). key and value stay out of r1-r5
 * (clobbered), so loading the arguments overwrites neither.
 */
#define MAP_CALL2(helper, map, key)						\
	({									\
		long __ret;							\
		asm volatile("r2 = %[k]\n\tr1 = %[m] ll\n\tcall %[h]\n\t%[r] = r0"	\
			     : [r] "=r"(__ret)					\
			     : [m] "i"(&(map)), [k] "r"(key), [h] "i"(helper)	\
			     : "r0", "r1", "r2", "r3", "r4", "r5", "memory");	\
		__ret;								\
	})

#define MAP_CALL4(helper, map, key, value, flags)				\
	({									\
		long __ret;							\
		asm volatile("r2 = %[k]\n\tr3 = %[v]\n\tr4 = %[f]\n\t"		\
			     "r1 = %[m] ll\n\tcall %[h]\n\t%[r] = r0"		\
			     : [r] "=r"(__ret)					\
			     : [m] "i"(&(map)), [k] "r"(key), [v] "r"(value),	\
			       [f] "r"(flags), [h] "i"(helper)			\
			     : "r0", "r1", "r2", "r3", "r4", "r5", "memory");	\
		__ret;								\
	})

/* The flow of key k (of family) in table t. */
static __always_inline struct cordon_flow_value *
flow_lookup(enum flow_table t, __u8 family, const union flow_key *k)
{
	if (family == 4)
		return (void *)(t == FLOWS ? MAP_CALL2(BPF_FUNC_map_lookup_elem, cordon_flows4, &k->v4) :
					     MAP_CALL2(BPF_FUNC_map_lookup_elem, cordon_denied4, &k->v4));
	return (void *)(t == FLOWS ? MAP_CALL2(BPF_FUNC_map_lookup_elem, cordon_flows, &k->v6) :
				     MAP_CALL2(BPF_FUNC_map_lookup_elem, cordon_denied, &k->v6));
}

static __always_inline long flow_insert(enum flow_table t, __u8 family,
					const union flow_key *k,
					const struct cordon_flow_value *v, __u64 flags)
{
	if (family == 4)
		return t == FLOWS ? MAP_CALL4(BPF_FUNC_map_update_elem, cordon_flows4, &k->v4, v, flags) :
				    MAP_CALL4(BPF_FUNC_map_update_elem, cordon_denied4, &k->v4, v, flags);
	return t == FLOWS ? MAP_CALL4(BPF_FUNC_map_update_elem, cordon_flows, &k->v6, v, flags) :
			    MAP_CALL4(BPF_FUNC_map_update_elem, cordon_denied, &k->v6, v, flags);
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
