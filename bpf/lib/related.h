/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors related to a tracked connection (unreachable, packet too big,
 * time exceeded, parameter problem) pass with that connection's verdict:
 * without them path MTU discovery, over IPv6 above all, breaks under default
 * deny. The quoted packet must have been sent by the error's destination,
 * so an error cannot be aimed at a host on behalf of someone else's flow;
 * and the error must come from the quoted packet's own destination (the
 * flow's peer), from the gateway itself (host identity: it routes between
 * the segments), or, for a peer in the world, from the world (the routers
 * on that path; a device could as well forge the peer's own address). Any
 * other sender is judged by the policy like any packet.
 */
#ifndef CORDON_LIB_RELATED_H
#define CORDON_LIB_RELATED_H

#include "common.h"
#include "parse.h"
#include "conntrack.h"

/* The quoted packet's tuple: addresses (IPv4-mapped), protocol and ports (or echo id), kind. */
static __always_inline int quoted_flow_key(struct __sk_buff *skb,
					   const struct cordon_pkt *p,
					   struct cordon_flow_key *k)
{
	__u32 off = p->inner_off;

	if (p->family == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
			return -1;
		if (ip.version != 4 || ip.ihl < 5)
			return -1;
		v4_mapped(k->saddr, ip.saddr);
		v4_mapped(k->daddr, ip.daddr);
		k->protocol = ip.protocol;
		off += ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0)
			return -1;
		if (ip6.version != 6)
			return -1;
		__builtin_memcpy(k->saddr, &ip6.saddr, 16);
		__builtin_memcpy(k->daddr, &ip6.daddr, 16);
		k->protocol = ip6.nexthdr;	/* quoted extension headers: not related */
		off += sizeof(ip6);
	}
	k->family = p->family;
	k->kind = CORDON_FLOW_KIND_PORTS;	/* only echo and ports are tracked below */
	k->pad = 0;
	if (k->protocol == IPPROTO_TCP || k->protocol == IPPROTO_UDP) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
			return -1;
		k->sport = ports[0];
		k->dport = ports[1];
		return 0;
	}
	if (k->protocol == IPPROTO_ICMP || k->protocol == IPPROTO_ICMPV6) {
		struct { __u8 type; __u8 code; __be16 csum; __be16 id; } h;
		__u8 req = k->protocol == IPPROTO_ICMP ? ICMP_ECHO : ICMPV6_ECHO_REQUEST;
		__u8 rep = k->protocol == IPPROTO_ICMP ? ICMP_ECHOREPLY : ICMPV6_ECHO_REPLY;

		if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)) < 0)
			return -1;
		if (h.type == req) {
			k->sport = h.id;
			k->dport = 0;
		} else if (h.type == rep) {
			k->sport = 0;
			k->dport = h.id;
		} else {
			return -1;
		}
		return 0;
	}
	return -1;
}

/* The tracked, unexpired connection an ICMP error is about, if its sender may speak for it. */
static __always_inline struct cordon_flow_value *
related_flow(struct __sk_buff *skb, const struct cordon_pkt *p, __u32 sender_id,
	     __u64 now)
{
	struct cordon_flow_key q;	/* the quoted packet's tuple, addresses as in struct cordon_pkt */
	struct cordon_flow_value *f;
	union flow_key k;
	__u32 peer_id;

	if (quoted_flow_key(skb, p, &q) < 0)
		return NULL;
	if (!addr_eq(q.saddr, p->daddr))	/* not about a packet this host sent */
		return NULL;
	flow_key_fill(&k, p->family, q.protocol, q.kind, q.saddr, q.daddr, q.sport, q.dport);
	f = flow_lookup(FLOWS, p->family, &k);	/* the quoted packet went forward */
	if (f) {
		peer_id = f->dst_identity;
	} else {
		/* or it was a reply */
		flow_key_fill(&k, p->family, q.protocol, q.kind, q.daddr, q.saddr, q.dport, q.sport);
		f = flow_lookup(FLOWS, p->family, &k);
		if (!f)
			return NULL;
		peer_id = f->src_identity;
	}
	if (flow_expired(f, q.protocol, now) || f->verdict == CORDON_VERDICT_DENY)
		return NULL;
	if (!addr_eq(p->saddr, q.daddr) && sender_id != CORDON_ID_HOST &&
	    !(sender_id == CORDON_ID_WORLD && peer_id == CORDON_ID_WORLD))
		return NULL;
	return f;
}

#endif
