/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ipcache: address -> identity, per slot: a hash of host addresses and an
 * LPM trie of shorter prefixes (see cordon.h). User space fills the inactive
 * slot with fresh maps, then flips the epoch (see state.h), so a packet sees
 * one whole generation or the other.
 */
#ifndef CORDON_LIB_IPCACHE_H
#define CORDON_LIB_IPCACHE_H

#include "common.h"

struct cordon_prefixes_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct cordon_ipcache_key));
	__uint(value_size, sizeof(struct cordon_ipcache_value));
	__uint(max_entries, CORDON_MAX_IPCACHE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

CORDON_SLOTS_OF(cordon_prefixes_inner) cordon_prefixes SEC(".maps");

struct cordon_hosts_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, sizeof(struct cordon_host_key));
	__uint(value_size, sizeof(struct cordon_ipcache_value));
	__uint(max_entries, CORDON_MAX_IPCACHE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

CORDON_SLOTS_OF(cordon_hosts_inner) cordon_hosts SEC(".maps");

/* The entry of the most specific prefix holding addr; world if none. */
static __always_inline void ipcache_lookup(void *hosts, void *prefixes,
					   const __u8 *addr,
					   struct cordon_ipcache_value *out)
{
	const struct cordon_ipcache_value *v = NULL;

	if (hosts)
		v = bpf_map_lookup_elem(hosts, addr);	/* 1. a host route: longest */
	if (!v && prefixes) {
		struct cordon_ipcache_key key = { .prefixlen = 128 };

		addr_copy(key.addr, addr);
		v = bpf_map_lookup_elem(prefixes, &key);	/* 2. a segment CIDR */
	}
	if (v) {
		*out = *v;
	} else {
		__builtin_memset(out, 0, sizeof(*out));	/* 3. world */
		out->identity = CORDON_ID_WORLD;
	}
}

/*
 * The ipcache's answers of the live epoch, per CPU, by address: a small
 * direct-mapped cache in front of the hash and the trie. A slot's answer is
 * the one its epoch's maps gave, and those never change once live (user
 * space fills a fresh slot, then flips the epoch: state.h), so an answer of
 * the epoch a packet reads is the answer it would look up. What it saves is
 * the decision path's cost in a flood of packets from one device, or to one
 * server: two hash and two trie lookups a packet.
 */
struct ipcache_cached {
	__u8 addr[16];
	__u64 epoch;
	struct cordon_ipcache_value v;
};

#define IPCACHE_CACHE_BITS 8

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1 << IPCACHE_CACHE_BITS);
	__type(key, __u32);
	__type(value, struct ipcache_cached);
} cordon_ipcache_cache SEC(".maps");

/*
 * ipcache_lookup of the maps of epoch's slot (0: none loaded), through the
 * cache. Global, so it takes the epoch, not map pointers, and looks the
 * slot's maps up as cordon_policy_query does (user space refills a slot only
 * after the epoch has moved past it); out of line, it leaves the judge's
 * frame, which has no byte to spare, as it was.
 */
__noinline int cordon_ipcache_query(__u64 epoch, const struct cordon_host_key *addr,
				    struct cordon_ipcache_value *out)
{
	const __u32 *w;
	const __u64 *a, *b;
	struct ipcache_cached *c;
	void *hosts = NULL, *prefixes = NULL;
	__u32 i, slot = epoch & 1;

	if (!addr || !out)
		return 0;
	w = (const __u32 *)addr->addr;
	a = (const __u64 *)addr->addr;
	i = ((w[0] ^ w[1] * 0x85ebca6b ^ w[2] * 0xc2b2ae35 ^ w[3]) * 0x9e3779b1) >>
	    (32 - IPCACHE_CACHE_BITS);
	c = bpf_map_lookup_elem(&cordon_ipcache_cache, &i);
	if (c && epoch) {
		b = (const __u64 *)c->addr;
		if (c->epoch == epoch && a[0] == b[0] && a[1] == b[1]) {
			*out = c->v;
			return 0;
		}
	}
	if (epoch) {
		hosts = bpf_map_lookup_elem(&cordon_hosts, &slot);
		prefixes = bpf_map_lookup_elem(&cordon_prefixes, &slot);
	}
	ipcache_lookup(hosts, prefixes, addr->addr, out);
	if (c && epoch) {
		addr_copy(c->addr, addr->addr);
		c->epoch = epoch;
		c->v = *out;
	}
	return 0;
}

#endif
