/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdict counters: per rule, per identity pair, per drop reason (per-CPU). */
#ifndef CORDON_LIB_COUNTERS_H
#define CORDON_LIB_COUNTERS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cordon_counter);
	__uint(max_entries, CORDON_MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, struct cordon_pair_key);
	__type(value, struct cordon_counter);
	__uint(max_entries, CORDON_MAX_PAIRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_pair_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cordon_counter);
	__uint(max_entries, CORDON_REASON_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_reason_stats SEC(".maps");

/* Link-local control frames passed (EAPOL, LLDP): index 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cordon_counter);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_link_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cordon_pair_slot);
	__uint(max_entries, CORDON_PAIR_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_pair_slots SEC(".maps");

static __always_inline void counter_add(void *map, const void *key, __u32 len)
{
	struct cordon_counter *c = bpf_map_lookup_elem(map, key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* Per rule and per drop reason; the pair is counted by the caller (or in a connection's entry). */
static __always_inline void count_rule_reason(__u32 rule_id, __u8 reason, __u32 len)
{
	__u32 r = reason;

	if (rule_id < CORDON_MAX_RULES)
		counter_add(&cordon_rule_stats, &rule_id, len);
	if (reason != CORDON_REASON_NONE)
		counter_add(&cordon_reason_stats, &r, len);
}

static __always_inline void count_verdict(__u32 rule_id, __u32 src_id,
					  __u32 dst_id, __u8 verdict,
					  __u8 reason, __u32 len)
{
	struct cordon_pair_key pk = {
		.src_identity = src_id,
		.dst_identity = dst_id,
		.verdict = verdict,
		.reason = reason,
	};
	struct cordon_pair_slot *s;
	struct cordon_counter *c;
	__u32 slot;

	count_rule_reason(rule_id, reason, len);

	/* this CPU's slot of the pair (cordon.h "Per identity pair") */
	slot = ((src_id * 0x9e3779b1) ^ (dst_id * 0x85ebca6b) ^
		((__u32)verdict << 8 | reason)) * 0xc2b2ae35 >> (32 - CORDON_PAIR_SLOT_BITS);
	s = bpf_map_lookup_elem(&cordon_pair_slots, &slot);
	if (s && !s->used) {
		s->key = pk;
		s->used = 1;
	}
	if (s && s->key.src_identity == src_id && s->key.dst_identity == dst_id &&
	    s->key.verdict == verdict && s->key.reason == reason) {
		s->c.packets++;
		s->c.bytes += len;
		return;
	}

	c = bpf_map_lookup_elem(&cordon_pair_stats, &pk);
	if (!c) {
		struct cordon_counter first = { .packets = 1, .bytes = len };

		if (bpf_map_update_elem(&cordon_pair_stats, &pk, &first, BPF_NOEXIST) == 0)
			return;
		/*
		 * Another CPU created the pair between the lookup and the insert
		 * (the first packets of a pair on two CPUs at once): count in this
		 * CPU's value of its entry, or the packet is lost to the pair.
		 */
		c = bpf_map_lookup_elem(&cordon_pair_stats, &pk);
	}
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline void count_link_local(__u32 len)
{
	__u32 zero = 0;

	counter_add(&cordon_link_local, &zero, len);
}

#endif
