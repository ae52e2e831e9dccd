/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bench's reference: the least a stateful tc filter does per packet.
 * It parses Ethernet and IPv4 (and the ports of TCP or UDP), looks the
 * 5-tuple up in one hash map (inserting it on a miss, so every repeat after
 * the first hits) and adds to one per-CPU counter. `npm run bench` gives
 * Cordon's in-kernel costs as ratios to this program's, measured in the
 * same run through BPF_PROG_TEST_RUN on the same packets (issue 13).
 * Not part of the product.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct tuple {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u8 protocol, pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct tuple);
	__type(value, __u64);
	__uint(max_entries, 65536);
} reference_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} reference_packets SEC(".maps");

SEC("tc")
int reference(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tuple t = {};
	__u32 zero = 0;
	__u64 one = 1, *n;
	__be16 *ports;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	t.saddr = ip->saddr;
	t.daddr = ip->daddr;
	t.protocol = ip->protocol;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		ports = (void *)ip + ip->ihl * 4;
		if ((void *)(ports + 2) > end)
			return TC_ACT_SHOT;
		t.sport = ports[0];
		t.dport = ports[1];
	}
	if (!bpf_map_lookup_elem(&reference_flows, &t))
		bpf_map_update_elem(&reference_flows, &t, &one, BPF_ANY);
	n = bpf_map_lookup_elem(&reference_packets, &zero);
	if (n)
		*n += 1;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
