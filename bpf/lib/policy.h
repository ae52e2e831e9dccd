/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy: (source identity, destination identity, protocol, port prefix) ->
 * verdict, one LPM trie per slot. One lookup, whatever the number of rules;
 * port ranges and "any" are prefixes (see cordon.h).
 */
#ifndef CORDON_LIB_POLICY_H
#define CORDON_LIB_POLICY_H

#include "common.h"

struct cordon_policy_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct cordon_policy_key));
	__uint(value_size, sizeof(struct cordon_policy_value));
	__uint(max_entries, CORDON_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CORDON_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct cordon_policy_inner);
} cordon_policy SEC(".maps");

struct decision {
	__u32 rule_id;
	__u8 verdict;
	__u8 reason;
	__u8 flags;
};

/*
 * Precedence, for a new flow (or one whose epoch is stale):
 *   1. the longest matching entry decides; the compiler has already folded
 *      "deny wins" into the entries (an allow inside a deny carries DENY);
 *   2. no entry: default deny, rule 0;
 *   3. a DENY becomes AUDIT when either end's segment is in audit mode or the
 *      datapath is in global audit mode (applied by the caller, audit_deny()).
 */
static __always_inline struct decision
policy_decide(void *trie, __u32 src_id, __u32 dst_id, __u8 protocol,
	      __be16 port)
{
	struct cordon_policy_key key = {
		.prefixlen = CORDON_POLICY_PLEN_PORT_BASE + 16,
		.src_identity = src_id,
		.dst_identity = dst_id,
		.protocol = protocol,
		.port = port,
	};
	struct decision d = {
		.verdict = CORDON_VERDICT_DENY,
		.reason = CORDON_REASON_POLICY,
	};
	const struct cordon_policy_value *v;

	if (!trie)
		return d;			/* 2. nothing loaded */
	v = bpf_map_lookup_elem(trie, &key);
	if (!v)
		return d;			/* 2. default deny */
	d.rule_id = v->rule_id;			/* 1. longest match */
	d.verdict = v->verdict;
	d.flags = v->flags;
	d.reason = v->verdict == CORDON_VERDICT_ALLOW ? CORDON_REASON_NONE :
							CORDON_REASON_POLICY;
	return d;
}

#endif
