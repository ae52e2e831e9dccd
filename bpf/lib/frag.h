/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fragments: a later fragment carries no ports, so it inherits the verdict
 * its first fragment got. No first fragment seen (out of order, or never
 * sent), no pass: the datagram is lost rather than smuggled.
 */
#ifndef CORDON_LIB_FRAG_H
#define CORDON_LIB_FRAG_H

#include "common.h"
#include "parse.h"

const volatile __u64 frag_timeout_ns = 30ULL * NSEC_PER_SEC;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct cordon_frag_key);
	__type(value, struct cordon_frag_value);
	__uint(max_entries, CORDON_MAX_FRAGS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_frags SEC(".maps");

static __always_inline void frag_key_of(struct cordon_frag_key *k,
					const struct cordon_pkt *p)
{
	addr_copy(k->saddr, p->saddr);
	addr_copy(k->daddr, p->daddr);
	k->id = p->frag_id;
	k->protocol = p->protocol;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
}

static __always_inline const struct cordon_frag_value *
frag_lookup(const struct cordon_pkt *p, __u64 now)
{
	struct cordon_frag_key k;
	struct cordon_frag_value *v;

	frag_key_of(&k, p);
	v = bpf_map_lookup_elem(&cordon_frags, &k);
	if (!v || now - v->last_seen_ns > frag_timeout_ns)
		return NULL;
	return v;
}

static __always_inline void frag_remember(const struct cordon_pkt *p,
					  __u32 src_id, __u32 dst_id,
					  __u32 rule_id, __u8 verdict, __u64 now)
{
	struct cordon_frag_key k;
	struct cordon_frag_value v = {
		.last_seen_ns = now,
		.src_identity = src_id,
		.dst_identity = dst_id,
		.rule_id = rule_id,
		.verdict = verdict,
	};

	frag_key_of(&k, p);
	bpf_map_update_elem(&cordon_frags, &k, &v, BPF_ANY);
}

#endif
