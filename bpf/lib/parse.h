/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet, ARP, IPv4 (options, fragments), IPv6 (extension
 * header chain, fragments), TCP, UDP, ICMP, ICMPv6.
 *
 * The common TCP, UDP and ICMP echo packets are read straight from the
 * linear data (parse_direct); everything else header by header with
 * bpf_skb_load_bytes(), which bounds-checks against the whole skb (linear or
 * not), so a truncated packet fails the read and gets the one safe verdict
 * for it: PARSE_MALFORMED (dropped, reason malformed).
 */
#ifndef CORDON_LIB_PARSE_H
#define CORDON_LIB_PARSE_H

#include "common.h"
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

/* From linux/icmp.h and linux/icmpv6.h, which drag in libc socket headers. */
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

#define IPV6_MAX_EXT_HEADERS 8	/* a longer chain is malformed */

enum parse_result {
	PARSE_IP = 0,		/* an IP packet to judge */
	PARSE_PASS,		/* ARP / neighbour discovery: let through */
	PARSE_ARP_CHECK,	/* ARP: pass if the sender address is not spoofed */
	PARSE_MALFORMED,	/* truncated or invalid: drop */
	PARSE_NOT_IP,		/* other ethertypes: default deny */
	PARSE_ND,		/* IPv6 neighbour discovery: bindings and routers checked */
	PARSE_LINK_LOCAL,	/* EAPOL, LLDP: pass and count, unless told to drop */
};

/* ICMPv6 neighbour discovery types (RFC 4861). */
#define ND_ROUTER_SOLICIT 133
#define ND_ROUTER_ADVERT 134
#define ND_NEIGHBOUR_SOLICIT 135
#define ND_NEIGHBOUR_ADVERT 136
#define ND_REDIRECT 137
#define ND_OPT_SOURCE_LLADDR 1
#define ND_OPT_TARGET_LLADDR 2
#define ND_MAX_OPTIONS 4	/* options looked at for a link-layer address */

enum icmp_kind {
	ICMP_KIND_NONE = 0,
	ICMP_KIND_ECHO_REQUEST,
	ICMP_KIND_ECHO_REPLY,
	ICMP_KIND_OTHER,
};

struct cordon_pkt {
	__u8 saddr[16];		/* IPv6 or IPv4-mapped */
	__u8 daddr[16];
	__u8 smac[6];
	__u8 family;		/* 4 or 6 */
	__u8 protocol;		/* L4 protocol (after extension headers) */
	__be16 sport;		/* flow key ports (ICMP echo: id, see cordon.h) */
	__be16 dport;
	__be16 policy_port;	/* TCP/UDP dport, ICMP type << 8 | code */
	__u8 tcp_flags;
	__u8 icmp_kind;		/* enum icmp_kind */
	__u8 frag_first;	/* first fragment of a fragmented datagram */
	__u8 frag_later;	/* a later fragment: no L4 header */
	__u8 has_l4;
	__u8 pad;
	__u32 frag_id;
	__u32 len;
	__u32 payload_off;	/* L4 payload (TCP, UDP): offset and length */
	__u32 payload_len;
	__u32 inner_off;	/* ICMP error: where the quoted packet starts */
	__u8 icmp_error;	/* an ICMP error quoting a packet (related.h) */
	__u8 pad2[3];
	__u32 tcp_seq;		/* TCP: sequence number, host order */
};

/* What a neighbour discovery message claims (parse_nd). */
struct nd_claim {
	__u8 target[16];	/* NS, NA, redirect */
	__u8 lladdr[6];		/* the link-layer address option neighbours cache */
	__u8 has_target;
	__u8 has_lladdr;
};

struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline void v4_mapped(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/* ::ffff:0:0/96 (RFC 4291 2.5.5.2): an IPv4 address in IPv6 form. */
static __always_inline int is_v4_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

/* ICMPv4 and ICMPv6 share the first 8 bytes: type, code, csum, id, seq. */
/* Errors that quote the packet they are about: v4 unreachable, source
 * quench, time exceeded, parameter problem; v6 unreachable, packet too big,
 * time exceeded, parameter problem. */
static __always_inline int icmp_is_error(__u8 family, __u8 type)
{
	if (family == 4)
		return type == 3 || type == 4 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

struct icmp_head {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be16 id;
	__be16 seq;
};

/* The ICMP fields of p from the header at off; parse_direct shares it. */
static __always_inline void set_icmp(struct cordon_pkt *p,
				     const struct icmp_head *h, __u32 off,
				     __u8 echo_req, __u8 echo_reply)
{
	p->policy_port = bpf_htons(((__u16)h->type << 8) | h->code);
	if (h->type == echo_req) {
		p->icmp_kind = ICMP_KIND_ECHO_REQUEST;
		p->sport = h->id;
		p->dport = 0;
	} else if (h->type == echo_reply) {
		p->icmp_kind = ICMP_KIND_ECHO_REPLY;
		p->sport = 0;
		p->dport = h->id;
	} else {
		p->icmp_kind = ICMP_KIND_OTHER;
		p->sport = p->policy_port;
		p->dport = 0;
		if (icmp_is_error(p->family, h->type)) {
			p->icmp_error = 1;
			p->inner_off = off + sizeof(*h);
		}
	}
}

static __always_inline int parse_icmp(struct __sk_buff *skb, __u32 off,
				      struct cordon_pkt *p, __u8 echo_req,
				      __u8 echo_reply)
{
	struct icmp_head h;

	if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)) < 0)
		return PARSE_MALFORMED;
	set_icmp(p, &h, off, echo_req, echo_reply);
	return PARSE_IP;
}

/* end: where the IP datagram ends (its length field), so payload excludes padding. */
static __always_inline void set_payload(struct cordon_pkt *p, __u32 off, __u32 end)
{
	p->payload_off = off;
	p->payload_len = end > off ? end - off : 0;
}

static __always_inline int parse_l4(struct __sk_buff *skb, __u32 off,
				    __u32 end, struct cordon_pkt *p)
{
	p->has_l4 = 1;
	switch (p->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)) < 0)
			return PARSE_MALFORMED;
		if (th.doff < 5)
			return PARSE_MALFORMED;
		p->sport = th.source;
		p->dport = th.dest;
		p->policy_port = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		p->tcp_seq = bpf_ntohl(th.seq);
		set_payload(p, off + th.doff * 4, end);
		return PARSE_IP;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)) < 0)
			return PARSE_MALFORMED;
		p->sport = uh.source;
		p->dport = uh.dest;
		p->policy_port = uh.dest;
		set_payload(p, off + sizeof(uh), end);
		return PARSE_IP;
	}
	case IPPROTO_ICMP:
		if (p->family != 4)
			return PARSE_MALFORMED;
		return parse_icmp(skb, off, p, ICMP_ECHO, ICMP_ECHOREPLY);
	case IPPROTO_ICMPV6:
		if (p->family != 6)
			return PARSE_MALFORMED;
		/* neighbour discovery reads its body from here (parse_nd) */
		p->payload_off = off;
		p->inner_off = end;
		return parse_icmp(skb, off, p, ICMPV6_ECHO_REQUEST,
				  ICMPV6_ECHO_REPLY);
	default:
		/* Other protocols are judged by protocol number alone. */
		p->has_l4 = 0;
		return PARSE_IP;
	}
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, __u32 off,
				      struct cordon_pkt *p)
{
	struct iphdr ip;
	__u16 frag;
	__u32 hlen;

	if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
		return PARSE_MALFORMED;
	if (ip.version != 4 || ip.ihl < 5)
		return PARSE_MALFORMED;
	hlen = ip.ihl * 4;
	if (bpf_ntohs(ip.tot_len) < hlen ||
	    off + bpf_ntohs(ip.tot_len) > skb->len)
		return PARSE_MALFORMED;
	p->family = 4;
	p->protocol = ip.protocol;
	v4_mapped(p->saddr, ip.saddr);
	v4_mapped(p->daddr, ip.daddr);

	frag = bpf_ntohs(ip.frag_off);
	if (frag & 0x1fff) {		/* offset != 0: a later fragment */
		p->frag_later = 1;
		p->frag_id = bpf_ntohs(ip.id);
		return PARSE_IP;
	}
	if (frag & 0x2000) {		/* MF with offset 0: the first one */
		p->frag_first = 1;
		p->frag_id = bpf_ntohs(ip.id);
	}
	return parse_l4(skb, off + hlen, off + bpf_ntohs(ip.tot_len), p);
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, __u32 off,
				      struct cordon_pkt *p)
{
	struct ipv6hdr ip6;
	__u8 nexthdr;
	__u32 end;
	int i;

	if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0)
		return PARSE_MALFORMED;
	if (ip6.version != 6)
		return PARSE_MALFORMED;
	if (off + sizeof(ip6) + bpf_ntohs(ip6.payload_len) > skb->len)
		return PARSE_MALFORMED;
	p->family = 6;
	__builtin_memcpy(p->saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->daddr, &ip6.daddr, 16);
	/* ::ffff:a.b.c.d is how IPv4 is keyed here: never on an IPv6 wire */
	if (is_v4_mapped(p->saddr) || is_v4_mapped(p->daddr))
		return PARSE_MALFORMED;
	nexthdr = ip6.nexthdr;
	off += sizeof(ip6);
	end = off + bpf_ntohs(ip6.payload_len);

	/* Walk the extension header chain, bounded. */
	for (i = 0; i < IPV6_MAX_EXT_HEADERS; i++) {
		struct { __u8 nexthdr; __u8 hdrlen; __be16 frag_off; __be32 id; } eh;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (bpf_skb_load_bytes(skb, off, &eh, 2) < 0)
				return PARSE_MALFORMED;
			nexthdr = eh.nexthdr;
			off += (eh.hdrlen + 1) * 8;
			continue;
		case IPPROTO_AH:
			if (bpf_skb_load_bytes(skb, off, &eh, 2) < 0)
				return PARSE_MALFORMED;
			nexthdr = eh.nexthdr;
			off += (eh.hdrlen + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT:
			if (p->frag_first)	/* two fragment headers */
				return PARSE_MALFORMED;
			if (bpf_skb_load_bytes(skb, off, &eh, sizeof(eh)) < 0)
				return PARSE_MALFORMED;
			nexthdr = eh.nexthdr;
			p->frag_id = bpf_ntohl(eh.id);
			off += 8;
			if (bpf_ntohs(eh.frag_off) & 0xfff8) {
				p->frag_later = 1;
				p->protocol = nexthdr;
				return PARSE_IP;
			}
			/* Offset 0: an atomic fragment (no M flag) is judged
			 * like an unfragmented packet (RFC 6946). */
			if (bpf_ntohs(eh.frag_off) & 1)
				p->frag_first = 1;
			continue;
		case IPPROTO_NONE:
			p->protocol = nexthdr;
			return PARSE_IP;
		default:
			p->protocol = nexthdr;
			return parse_l4(skb, off, end, p);
		}
	}
	return PARSE_MALFORMED;	/* extension header chain too long */
}

#include "parse_nd.h"
#include "parse_direct.h"

static __always_inline int parse_packet(struct __sk_buff *skb,
					struct cordon_pkt *p)
{
	struct ethhdr eth;
	int rc;

	if (parse_direct(skb, p))
		return PARSE_IP;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return PARSE_MALFORMED;
	__builtin_memcpy(p->smac, eth.h_source, 6);
	p->len = skb->len;

	switch (bpf_ntohs(eth.h_proto)) {
	case ETH_P_IP:
		return parse_ipv4(skb, ETH_HLEN, p);
	case ETH_P_IPV6:
		rc = parse_ipv6(skb, ETH_HLEN, p);
		if (rc == PARSE_IP && is_neighbour_discovery(skb, p))
			return PARSE_ND;
		return rc;
	case CORDON_ETH_P_EAPOL:
	case CORDON_ETH_P_LLDP:
		return PARSE_LINK_LOCAL;
	case ETH_P_ARP: {
		struct arp_ipv4 arp;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &arp, sizeof(arp)) < 0)
			return PARSE_MALFORMED;
		if (arp.ptype != bpf_htons(ETH_P_IP) || arp.plen != 4 ||
		    arp.hlen != 6)
			return PARSE_PASS;	/* not IPv4 ARP: nothing to bind */
		v4_mapped(p->saddr, *(__be32 *)arp.spa);
		__builtin_memcpy(p->smac, arp.sha, 6);
		return PARSE_ARP_CHECK;
	}
	default:
		return PARSE_NOT_IP;
	}
}

#endif
