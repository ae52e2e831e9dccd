/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv6 neighbour discovery: which messages, and what they claim (parse.h). Included by parse.h only. */
#ifndef CORDON_LIB_PARSE_ND_H
#define CORDON_LIB_PARSE_ND_H

/*
 * Neighbour discovery (RFC 4861) a segment needs: router and neighbour
 * solicitations and advertisements, and redirects, only with hop limit 255
 * (which proves they were not forwarded).
 */
static __always_inline int is_neighbour_discovery(struct __sk_buff *skb,
						  const struct cordon_pkt *p)
{
	__u8 type = bpf_ntohs(p->policy_port) >> 8;
	__u8 hop_limit;

	if (p->family != 6 || p->protocol != IPPROTO_ICMPV6 || !p->has_l4)
		return 0;
	if (type < ND_ROUTER_SOLICIT || type > ND_REDIRECT)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 7, &hop_limit, 1) < 0)
		return 0;
	return hop_limit == 255;
}

/*
 * What a neighbour discovery message claims: its target address (NS, NA,
 * redirect) and the link-layer address option that neighbours will cache
 * (source for RS, RA, NS, redirect; target for NA). A message too short for
 * its target, or with a zero-length option, is malformed (RFC 4861 7.1.1).
 */
static __always_inline int parse_nd(struct __sk_buff *skb,
				    const struct cordon_pkt *p, struct nd_claim *c)
{
	/* parse_l4 left the ICMPv6 message's start and end here for ND */
	__u32 l4 = p->payload_off, end = p->inner_off, off;
	__u8 type = bpf_ntohs(p->policy_port) >> 8;
	__u8 want;
	int i;

	c->has_target = 0;
	c->has_lladdr = 0;
	switch (type) {
	case ND_ROUTER_SOLICIT:
		off = l4 + 8;
		want = ND_OPT_SOURCE_LLADDR;
		break;
	case ND_ROUTER_ADVERT:
		off = l4 + 16;
		want = ND_OPT_SOURCE_LLADDR;
		break;
	case ND_NEIGHBOUR_SOLICIT:
	case ND_NEIGHBOUR_ADVERT:
		off = l4 + 24;
		want = type == ND_NEIGHBOUR_ADVERT ? ND_OPT_TARGET_LLADDR :
							   ND_OPT_SOURCE_LLADDR;
		break;
	default:		/* redirect: target, then destination */
		off = l4 + 40;
		want = ND_OPT_TARGET_LLADDR;
		break;
	}
	if (type >= ND_NEIGHBOUR_SOLICIT) {
		if (off > end || bpf_skb_load_bytes(skb, l4 + 8, c->target, 16) < 0)
			return PARSE_MALFORMED;
		c->has_target = 1;
	}
	for (i = 0; i < ND_MAX_OPTIONS; i++) {
		__u8 opt[2];

		if (off + 2 > end)
			break;
		if (bpf_skb_load_bytes(skb, off, opt, 2) < 0 || opt[1] == 0)
			return PARSE_MALFORMED;
		if (opt[0] == want && opt[1] == 1) {
			if (bpf_skb_load_bytes(skb, off + 2, c->lladdr, 6) < 0)
				return PARSE_MALFORMED;
			c->has_lladdr = 1;
			break;
		}
		off += opt[1] * 8;
	}
	return PARSE_ND;
}

#endif
