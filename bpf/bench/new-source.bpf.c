/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bench's new-connection driver: makes every repeat of BPF_PROG_TEST_RUN
 * a new connection from a new source, then tail-calls the program under
 * test (slot 0 of new_source_target), so a new connection is measured over
 * 100,000 repeats instead of one noisy single run each (issue 13).
 * Repeat n rewrites an IPv4 TCP or UDP packet's source to the /16 of its
 * source with the low 16 bits n, and its source port to 10000 + n / 65536,
 * in place: no checksum is kept (the program under test does not check it).
 * Its own cost is measured by tail-calling new_source_none instead.
 * Not part of the product.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} new_source_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} new_source_seq SEC(".maps");

SEC("tc")
int new_source(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__be16 *ports;
	__u32 zero = 0, n, *seq;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP))
		return TC_ACT_SHOT;
	ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > end)
		return TC_ACT_SHOT;
	seq = bpf_map_lookup_elem(&new_source_seq, &zero);
	if (!seq)
		return TC_ACT_SHOT;
	n = (*seq)++;
	ip->saddr = (ip->saddr & bpf_htonl(0xffff0000)) | bpf_htonl(n & 0xffff);
	ports[0] = bpf_htons(10000 + (n >> 16));
	bpf_tail_call(skb, &new_source_target, 0);
	return TC_ACT_SHOT;	/* no program in the slot */
}

/* The driver's own cost: the same rewrite and tail call, into a program that does nothing. */
SEC("tc")
int new_source_none(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
