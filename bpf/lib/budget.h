/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * New-flow budget per source address: a token bucket (rate per second,
 * burst) in an LRU hash. Each new tracked flow, and each fragment remembered
 * for a later one, takes a token; an empty bucket refuses it. A flow gives
 * its token back when its first reply comes: what the budget bounds is the
 * flows nobody answers (a SYN flood, a sweep of dead addresses), not the
 * connection rate of a device whose peers answer. One device flooding new
 * flows then fills neither the connection table nor the fragment table, and
 * the connections of others are not evicted. The buckets are approximate
 * under races between CPUs (a few tokens either way).
 */
#ifndef CORDON_LIB_BUDGET_H
#define CORDON_LIB_BUDGET_H

#include "common.h"

/* Set by user space before load; a rate of 0 turns the budget off. */
const volatile __u64 flow_budget_rate = 1000;	/* new flows per second per source */
const volatile __u64 flow_budget_burst = 8192;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct cordon_budget_key);
	__type(value, struct cordon_budget_value);
	__uint(max_entries, CORDON_MAX_BUDGETS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_budget SEC(".maps");

#define BUDGET_MAX_REFILL_NS (1000ULL * NSEC_PER_SEC)	/* keeps the product in 64 bits */

/* Takes one token of saddr's bucket; 0 when it is empty (the flow is refused). */
static __always_inline int budget_take(const __u8 *saddr, __u64 now)
{
	struct cordon_budget_value *b;
	__u64 cap = flow_budget_burst * NSEC_PER_SEC, elapsed;

	if (!flow_budget_rate)
		return 1;
	b = bpf_map_lookup_elem(&cordon_budget, saddr);
	if (!b) {
		struct cordon_budget_value first = {
			.tokens = cap > NSEC_PER_SEC ? cap - NSEC_PER_SEC : 0,
			.last_ns = now,
		};

		bpf_map_update_elem(&cordon_budget, saddr, &first, BPF_ANY);
		return flow_budget_burst > 0;
	}
	elapsed = now - b->last_ns;
	if (elapsed > BUDGET_MAX_REFILL_NS)
		elapsed = BUDGET_MAX_REFILL_NS;
	b->last_ns = now;
	b->tokens += elapsed * flow_budget_rate;
	if (b->tokens > cap)
		b->tokens = cap;
	if (b->tokens < NSEC_PER_SEC)
		return 0;
	b->tokens -= NSEC_PER_SEC;
	return 1;
}

/* Gives back the token of a flow from saddr that was just answered. */
static __always_inline void budget_refund(const __u8 *saddr)
{
	struct cordon_budget_value *b;
	__u64 cap = flow_budget_burst * NSEC_PER_SEC;

	if (!flow_budget_rate)
		return;
	b = bpf_map_lookup_elem(&cordon_budget, saddr);
	if (!b)
		return;
	if (b->tokens + NSEC_PER_SEC < cap)
		b->tokens += NSEC_PER_SEC;
	else
		b->tokens = cap;
}

#endif
