/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy: (source identity, destination identity, protocol, port block) ->
 * verdict, per slot: a hash of entries and a hash of which port block sizes
 * exist per (pair, protocol), see cordon.h. A handful of hash lookups,
 * whatever the number of rules.
 */
#ifndef CORDON_LIB_POLICY_H
#define CORDON_LIB_POLICY_H

#include "common.h"

struct cordon_policy_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, sizeof(struct cordon_policy_key));
	__uint(value_size, sizeof(struct cordon_policy_value));
	__uint(max_entries, CORDON_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

CORDON_SLOTS_OF(cordon_policy_inner) cordon_policy SEC(".maps");

struct cordon_policy_mask_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, sizeof(struct cordon_policy_mask_key));
	__uint(value_size, sizeof(struct cordon_policy_mask));
	__uint(max_entries, CORDON_MAX_POLICY_MASKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

CORDON_SLOTS_OF(cordon_policy_mask_inner) cordon_policy_mask SEC(".maps");

struct decision {
	__u32 rule_id;
	__u8 verdict;
	__u8 reason;
	__u8 flags;
};

/*
 * Precedence, for a new flow (or one whose epoch is stale):
 *   1. the longest matching block decides: the protocol's blocks from one
 *      port (16) down to every port (0), then the any-protocol entry; the
 *      compiler has already folded "deny wins" into the entries (an allow
 *      inside a deny carries DENY);
 *   2. no entry: default deny, rule 0;
 *   3. a DENY becomes AUDIT when either end's segment is in audit mode or the
 *      datapath is in global audit mode (applied by the caller, audited()).
 */
static __always_inline struct decision
policy_decide(void *entries, void *masks, __u32 src_id, __u32 dst_id,
	      __u8 protocol, __be16 port)
{
	/* one key for both maps: a mask key is an entry key's first 9 bytes, then zeros */
	struct cordon_policy_key key = {
		.src_identity = src_id,
		.dst_identity = dst_id,
		.protocol = protocol,
	};
	struct decision d = {
		.verdict = CORDON_VERDICT_DENY,
		.reason = CORDON_REASON_POLICY,
	};
	const struct cordon_policy_value *v = NULL;
	const struct cordon_policy_mask *m;
	__u16 hport = bpf_ntohs(port);
	__u32 plens;
	int n;

	if (!entries || !masks)
		return d;			/* 2. nothing loaded */
	_Static_assert(sizeof(struct cordon_policy_mask_key) == sizeof(key) &&
		       __builtin_offsetof(struct cordon_policy_mask_key, protocol) ==
		       __builtin_offsetof(struct cordon_policy_key, protocol),
		       "a policy key with port_plen and port 0 is its mask key");
	m = bpf_map_lookup_elem(masks, &key);
	plens = m ? m->port_plens : 0;
	for (n = 16; n >= 0 && plens; n--) {	/* 1. longest block first */
		if (!(plens & (1U << n)))
			continue;
		plens &= ~(1U << n);
		key.port_plen = n;
		key.port = bpf_htons(n ? hport & (__u16)(0xffff << (16 - n)) : 0);
		v = bpf_map_lookup_elem(entries, &key);
		if (v)
			break;
	}
	if (!v) {				/* 1. then every protocol */
		key.protocol = 0;
		key.port_plen = CORDON_PORT_PLEN_ANY_PROTO;
		key.port = 0;
		v = bpf_map_lookup_elem(entries, &key);
	}
	if (!v)
		return d;			/* 2. default deny */
	d.rule_id = v->rule_id;
	d.verdict = v->verdict;
	d.flags = v->flags;
	d.reason = v->verdict == CORDON_VERDICT_ALLOW ? CORDON_REASON_NONE :
							CORDON_REASON_POLICY;
	return d;
}

#endif
