/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP short-cut of a managed interface's ingress: a repeated packet of a
 * flow that tc judged denied under the live epoch is dropped before the
 * kernel builds an skb for it, counted as tc counts it (the flow entry, per
 * rule, per identity pair, per reason) and reported through the same
 * rate-limited events. Everything else passes to tc unchanged, which stays
 * the judge: a first packet, anything XDP does not parse in full (fragments,
 * IPv4 options, IPv6 extension headers, ICMP, other protocols, truncated
 * headers), and any packet whose verdict tc could see differently today
 * (a tracked connection either way, a spoofed source MAC, audit mode, a
 * destination with learned names).
 */
#ifndef CORDON_LIB_XDP_H
#define CORDON_LIB_XDP_H

#include "common.h"
#include "parse.h"
#include "state.h"
#include "conntrack.h"
#include "counters.h"
#include "events.h"
#include "fqdn.h"

/* TCP and UDP over IPv4 without options or fragmentation, or over IPv6 without extension headers. */
static __always_inline int xdp_parse(struct xdp_md *ctx, struct cordon_pkt *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l4;

	if ((void *)(eth + 1) > end)
		return 0;
	__builtin_memcpy(p->smac, eth->h_source, 6);
	p->len = end - data;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl != 5 ||
		    (ip->frag_off & bpf_htons(0x3fff)) ||
		    bpf_ntohs(ip->tot_len) < sizeof(*ip) ||
		    bpf_ntohs(ip->tot_len) > (__u64)(end - (void *)ip))
			return 0;
		p->family = 4;
		p->protocol = ip->protocol;
		v4_mapped(p->saddr, ip->saddr);
		v4_mapped(p->daddr, ip->daddr);
		l4 = ip + 1;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->version != 6 ||
		    bpf_ntohs(ip6->payload_len) > (__u64)(end - (void *)(ip6 + 1)))
			return 0;
		p->family = 6;
		p->protocol = ip6->nexthdr;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		if (is_v4_mapped(p->saddr) || is_v4_mapped(p->daddr))
			return 0;
		l4 = ip6 + 1;
	} else {
		return 0;
	}
	if (p->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end || th->doff < 5)
			return 0;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
	} else if (p->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return 0;
		p->sport = uh->source;
		p->dport = uh->dest;
	} else {
		return 0;
	}
	p->policy_port = p->dport;
	p->has_l4 = 1;
	return 1;
}

/* A tracked connection tc would find for this packet, in either direction (as cordon_judge looks). */
static __always_inline int xdp_tracked(const struct cordon_pkt *p,
				       union flow_key *k, __u64 now)
{
	struct cordon_flow_value *f = flow_lookup(FLOWS, p->family, k);

	if (f && !flow_expired(f, p->protocol, now))
		return 1;
	if (tcp_opening(p))
		return 0;
	flow_key_reverse(k, p);
	f = flow_lookup(FLOWS, p->family, k);
	return f && !flow_expired(f, p->protocol, now);
}

/*
 * The denied flow of this packet, when tc would deny the packet again with
 * the same decision: denied under the live epoch by policy, from the MAC it
 * was judged with, no connection tracked for it, and no learned name that
 * could decide its destination since.
 */
static __always_inline struct cordon_flow_value *
xdp_denied_flow(const struct cordon_pkt *p, __u64 now)
{
	const struct cordon_state *st;
	struct cordon_flow_value *dv;
	union flow_key key;
	struct cordon_host_key dst;
	__u32 zero = 0;
	__u64 epoch;

	st = bpf_map_lookup_elem(&cordon_state, &zero);
	if (!st || (st->flags & CORDON_STATE_F_AUDIT_ALL))
		return NULL;
	epoch = *(volatile const __u64 *)&st->epoch;
	if (!epoch)
		return NULL;
	flow_key_of(&key, p);
	dv = flow_lookup(DENIED, p->family, &key);
	if (!dv || dv->epoch != epoch || dv->verdict != CORDON_VERDICT_DENY ||
	    (dv->reason != CORDON_REASON_POLICY && dv->reason != CORDON_REASON_NO_CONNECTION) ||
	    (dv->flags & (CORDON_FLOW_F_SRC_AUDIT | CORDON_FLOW_F_DST_AUDIT)))
		return NULL;
	if ((dv->flags & CORDON_FLOW_F_SRC_MAC) && !mac_eq(dv->src_mac, p->smac))
		return NULL;
	if (xdp_tracked(p, &key, now))
		return NULL;
	if (st->flags & CORDON_STATE_F_NAMES) {
		addr_copy(dst.addr, p->daddr);
		if (bpf_map_lookup_elem(&cordon_fqdn, &dst))
			return NULL;
	}
	return dv;
}

static __always_inline int xdp_judge(struct xdp_md *ctx)
{
	struct cordon_flow_value *dv;
	struct cordon_pkt p = {};
	__u64 now;
	__u8 reason;

	if (!xdp_parse(ctx, &p))
		return XDP_PASS;
	now = bpf_ktime_get_coarse_ns();	/* timeouts, last_seen_ns, events: as tc's fast path */
	dv = xdp_denied_flow(&p, now);
	if (!dv)
		return XDP_PASS;
	/* the reason tc gives this packet: the policy's, unless it looks like a reply */
	reason = looks_like_reply(&p) ? CORDON_REASON_NO_CONNECTION : CORDON_REASON_POLICY;
	if (dv->reason != reason)
		dv->reason = reason;
	flow_account(dv, &p, 0, now);
	count_verdict(dv->rule_id, dv->src_identity, dv->dst_identity,
		      CORDON_VERDICT_DENY, reason, p.len);
	event_emit(ctx, 1, &p, dv->src_identity, dv->dst_identity,
		   dv->rule_id, CORDON_VERDICT_DENY, reason, now);
	return XDP_DROP;
}

#endif
