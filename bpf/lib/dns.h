/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Steering of device DNS queries to the enforcer's proxy, and its answers
 * back (cordon.h "dns"): a stateless rewrite of one address and one port
 * each way, checksums fixed incrementally. Only plain UDP is steered (IPv4
 * unfragmented, IPv6 with no extension header); anything else goes its way
 * and, the answer teaching nothing, leaves the names unlearned (fail closed).
 */
#ifndef CORDON_LIB_DNS_H
#define CORDON_LIB_DNS_H

#include "common.h"
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#define DNS_PORT 53
/* skb->cb[0] mark, set by cordon_judge on a parsed UDP packet to port 53 (ingress) */
#define CB_DNS_QUERY 0xd5

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cordon_dns_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_dns SEC(".maps");

/* Where a plain UDP datagram's addresses and ports are. */
struct dns_loc {
	__u32 addr_off;		/* source address (destination = + addr_len) */
	__u32 addr_len;		/* 4 or 16 */
	__u32 udp_off;
	__u32 ip_csum_off;	/* IPv4 only */
	__u8 addr[2][16];	/* source, destination: IPv6 or IPv4-mapped */
	__be16 port[2];		/* source, destination */
};

static __always_inline int dns_locate(struct __sk_buff *skb, struct dns_loc *l)
{
	struct ethhdr eth;
	struct udphdr uh;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return 0;
	__builtin_memset(l->addr, 0, sizeof(l->addr));
	if (eth.h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0 ||
		    ip.protocol != IPPROTO_UDP || ip.ihl < 5 ||
		    (ip.frag_off & bpf_htons(0x3fff)))
			return 0;
		l->addr_off = ETH_HLEN + 12;
		l->addr_len = 4;
		l->ip_csum_off = ETH_HLEN + 10;
		l->udp_off = ETH_HLEN + ip.ihl * 4;
		l->addr[0][10] = l->addr[0][11] = 0xff;
		l->addr[1][10] = l->addr[1][11] = 0xff;
		__builtin_memcpy(&l->addr[0][12], &ip.saddr, 4);
		__builtin_memcpy(&l->addr[1][12], &ip.daddr, 4);
	} else if (eth.h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0 ||
		    ip6.nexthdr != IPPROTO_UDP)
			return 0;
		l->addr_off = ETH_HLEN + 8;
		l->addr_len = 16;
		l->ip_csum_off = 0;
		l->udp_off = ETH_HLEN + sizeof(ip6);
		__builtin_memcpy(l->addr[0], &ip6.saddr, 16);
		__builtin_memcpy(l->addr[1], &ip6.daddr, 16);
	} else {
		return 0;
	}
	if (bpf_skb_load_bytes(skb, l->udp_off, &uh, sizeof(uh)) < 0)
		return 0;
	l->port[0] = uh.source;
	l->port[1] = uh.dest;
	return 1;
}

static __always_inline const struct cordon_dns_config *dns_config(void)
{
	__u32 zero = 0;
	const struct cordon_dns_config *c = bpf_map_lookup_elem(&cordon_dns, &zero);

	return c && c->port_base ? c : NULL;
}

static __always_inline int addr_zero(const __u8 *a)
{
	const __u64 *w = (const __u64 *)a;

	return w[0] == 0 && w[1] == 0;
}

/* Rewrites address and port `which` (0 source, 1 destination) of the datagram at l. */
static __always_inline int dns_rewrite(struct __sk_buff *skb, const struct dns_loc *l,
				       int which, const __u8 *addr, __be16 port)
{
	__u32 csum_off = l->udp_off + offsetof(struct udphdr, check);
	__u32 aoff = l->addr_off + (which ? l->addr_len : 0);
	__u32 poff = l->udp_off + (which ? offsetof(struct udphdr, dest) : offsetof(struct udphdr, source));
	__be16 old_port = l->port[which & 1];

	if (l->addr_len == 4) {
		__be32 from, to;

		__builtin_memcpy(&from, &l->addr[which & 1][12], 4);
		__builtin_memcpy(&to, addr + 12, 4);
		if (bpf_l4_csum_replace(skb, csum_off, from, to,
					BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4) < 0 ||
		    bpf_l3_csum_replace(skb, l->ip_csum_off, from, to, 4) < 0 ||
		    bpf_skb_store_bytes(skb, aoff, &to, 4, 0) < 0)
			return 0;
	} else {
		__u8 from[16], to[16];
		__s64 diff;

		__builtin_memcpy(from, l->addr[which & 1], 16);
		__builtin_memcpy(to, addr, 16);
		diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);
		if (diff < 0 ||
		    bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR) < 0 ||
		    bpf_skb_store_bytes(skb, aoff, to, 16, 0) < 0)
			return 0;
	}
	if (bpf_l4_csum_replace(skb, csum_off, old_port, port, BPF_F_MARK_MANGLED_0 | 2) < 0 ||
	    bpf_skb_store_bytes(skb, poff, &port, 2, 0) < 0)
		return 0;
	return 1;
}

/* Ingress, after the packet was allowed: a query to resolver i goes to the proxy. A frame of its own, beside the judge's. */
__noinline int dns_steer_query(struct __sk_buff *skb)
{
	const struct cordon_dns_config *c = dns_config();
	struct dns_loc l;
	const __u8 *proxy;
	__u32 i, n;

	if (!c || !dns_locate(skb, &l) || l.port[1] != bpf_htons(DNS_PORT))
		return 0;
	proxy = l.addr_len == 4 ? c->proxy4 : c->proxy6;
	if (addr_zero(proxy))
		return 0;
	n = c->count;
	for (i = 0; i < CORDON_MAX_RESOLVERS; i++) {
		if (i >= n)
			return 0;
		if (addr_eq(c->resolvers[i], l.addr[1])) {
			return dns_rewrite(skb, &l, 1, proxy, bpf_htons(c->port_base + i));
		}
	}
	return 0;
}

/* Egress, before judging: the proxy's answer for resolver i leaves as the resolver's. */
__noinline int dns_restore_answer(struct __sk_buff *skb)
{
	const struct cordon_dns_config *c = dns_config();
	struct dns_loc l;
	const __u8 *proxy;
	__u32 i;

	if (!c || !dns_locate(skb, &l))
		return 0;
	i = bpf_ntohs(l.port[0]) - c->port_base;
	if (i >= CORDON_MAX_RESOLVERS || i >= c->count)
		return 0;
	proxy = l.addr_len == 4 ? c->proxy4 : c->proxy6;
	if (addr_zero(proxy) || !addr_eq(proxy, l.addr[0]))
		return 0;
	return dns_rewrite(skb, &l, 0, c->resolvers[i], bpf_htons(DNS_PORT));
}

#endif
