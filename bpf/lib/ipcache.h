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

#endif
