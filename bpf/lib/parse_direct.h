/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The common packets parsed straight from the linear data (parse.h). Included by parse.h only. */
#ifndef CORDON_LIB_PARSE_DIRECT_H
#define CORDON_LIB_PARSE_DIRECT_H

/*
 * The common case straight from the linear data, without a helper call per
 * header: TCP, UDP or an ICMP echo request or reply over IPv4 without options
 * or fragmentation, or over IPv6 without extension headers, all of it well
 * formed. It fills p exactly as the general parse below would; anything else
 * (other ICMP types: errors, neighbour discovery; a header past the linear
 * part) returns 0 and is parsed by the general parse, so verdicts never
 * depend on which of the two read the packet. p comes in all zero.
 */
static __always_inline int parse_direct(struct __sk_buff *skb,
					struct cordon_pkt *p)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 dgram_end;
	void *l4;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl != 5 ||
		    (ip->frag_off & bpf_htons(0x3fff)) ||
		    bpf_ntohs(ip->tot_len) < sizeof(*ip) ||
		    ETH_HLEN + bpf_ntohs(ip->tot_len) > skb->len)
			return 0;
		p->family = 4;
		p->protocol = ip->protocol;
		v4_mapped(p->saddr, ip->saddr);
		v4_mapped(p->daddr, ip->daddr);
		dgram_end = ETH_HLEN + bpf_ntohs(ip->tot_len);
		l4 = ip + 1;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->version != 6 ||
		    ETH_HLEN + sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > skb->len)
			return 0;
		p->family = 6;
		p->protocol = ip6->nexthdr;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		if (is_v4_mapped(p->saddr) || is_v4_mapped(p->daddr))
			goto general;
		dgram_end = ETH_HLEN + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		l4 = ip6 + 1;
	} else {
		return 0;
	}
	if (p->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end || th->doff < 5)
			goto general;
		p->sport = th->source;
		p->dport = th->dest;
		p->policy_port = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->tcp_seq = bpf_ntohl(th->seq);
		set_payload(p, (l4 - data) + th->doff * 4, dgram_end);
	} else if (p->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			goto general;
		p->sport = uh->source;
		p->dport = uh->dest;
		set_payload(p, (l4 - data) + sizeof(*uh), dgram_end);
		p->policy_port = p->dport;
	} else if (p->protocol == (p->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		struct icmp_head *h = l4;
		__u8 echo_req = p->family == 4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST;
		__u8 echo_reply = p->family == 4 ? ICMP_ECHOREPLY : ICMPV6_ECHO_REPLY;

		if ((void *)(h + 1) > end ||
		    (h->type != echo_req && h->type != echo_reply))
			goto general;
		set_icmp(p, h, l4 - data, echo_req, echo_reply);
		if (p->family == 6) {	/* as parse_l4 does for ICMPv6 */
			p->payload_off = l4 - data;
			p->inner_off = dgram_end;
		}
	} else {
		goto general;
	}
	p->has_l4 = 1;
	__builtin_memcpy(p->smac, eth->h_source, 6);
	p->len = skb->len;
	return 1;
general:
	/* back as the caller passed it (all zero), for the general parse */
	__builtin_memset(p, 0, sizeof(*p));
	return 0;
}

#endif
