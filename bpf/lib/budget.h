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
 * under races between CPUs (a few tokens either way). A source's bucket
 * enters the table with its second flow (below: "first flow").
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

/*
 * A source's first flow does not make its entry: an LRU insert is most of a
 * new connection's cost (~0.4 us measured), and most sources open a few
 * flows. Its bucket waits in a slot of a small direct-mapped array, indexed
 * by its address, until its second flow moves it into cordon_budget. A
 * source whose slot another one's first flow takes before that starts again
 * from a full bucket: it gains at most the one token it had spent, so the
 * budget still bounds every source (approximate, as the buckets are under
 * races between CPUs). Not pinned: a restart forgets one flow per source.
 */
struct budget_first {
	__u8 addr[16];
	__u64 tokens;
	__u64 last_ns;
};

#define BUDGET_FIRST_BITS 13
#define BUDGET_FIRSTS (1U << BUDGET_FIRST_BITS)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct budget_first);
	__uint(max_entries, BUDGET_FIRSTS);
} cordon_budget_first SEC(".maps");

static __always_inline struct budget_first *budget_first_slot(const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;
	__u32 h = (w[0] ^ w[1] * 0x85ebca6b ^ w[2] * 0xc2b2ae35 ^ w[3]) * 0x9e3779b1;
	__u32 i = h >> (32 - BUDGET_FIRST_BITS);

	return bpf_map_lookup_elem(&cordon_budget_first, &i);
}

static __always_inline int budget_first_is(const struct budget_first *f, const __u8 *addr)
{
	const __u64 *a = (const __u64 *)f->addr, *b = (const __u64 *)addr;

	return a[0] == b[0] && a[1] == b[1];
}

/* One token of a source's bucket (common.h token_take); now: the coarse clock. */
static __always_inline int budget_spend(__u64 *tokens, __u64 *last_ns, __u64 now)
{
	return token_take(tokens, last_ns, now, flow_budget_rate, flow_budget_burst,
			  BUDGET_MAX_REFILL_NS);
}

/* Takes one token of saddr's bucket; 0 when it is empty (the flow is refused). */
static __always_inline int budget_take(const __u8 *saddr, __u64 now)
{
	struct cordon_budget_value *b, v;
	struct budget_first *f;
	__u64 cap = flow_budget_burst * NSEC_PER_SEC;
	int ok;

	if (!flow_budget_rate)
		return 1;
	b = bpf_map_lookup_elem(&cordon_budget, saddr);
	if (b)
		return budget_spend(&b->tokens, &b->last_ns, now);
	f = budget_first_slot(saddr);
	if (f && budget_first_is(f, saddr)) {
		/* its second flow: the bucket moves into the table */
		v.tokens = f->tokens;
		v.last_ns = f->last_ns;
		ok = budget_spend(&v.tokens, &v.last_ns, now);
		bpf_map_update_elem(&cordon_budget, saddr, &v, BPF_ANY);
		__builtin_memset(f->addr, 0, sizeof(f->addr));
		return ok;
	}
	/* its first flow: a full bucket less one token, in the slot */
	v.tokens = cap > NSEC_PER_SEC ? cap - NSEC_PER_SEC : 0;
	v.last_ns = now;
	if (f) {
		addr_copy(f->addr, saddr);
		f->tokens = v.tokens;
		f->last_ns = v.last_ns;
	} else {
		bpf_map_update_elem(&cordon_budget, saddr, &v, BPF_ANY);
	}
	return flow_budget_burst > 0;
}

static __always_inline void budget_give(__u64 *tokens)
{
	__u64 cap = flow_budget_burst * NSEC_PER_SEC;

	if (*tokens + NSEC_PER_SEC < cap)
		*tokens += NSEC_PER_SEC;
	else
		*tokens = cap;
}

/* Gives back the token of a flow from saddr that was just answered. */
static __always_inline void budget_refund(const __u8 *saddr)
{
	struct cordon_budget_value *b;
	struct budget_first *f;

	if (!flow_budget_rate)
		return;
	b = bpf_map_lookup_elem(&cordon_budget, saddr);
	if (b) {
		budget_give(&b->tokens);
		return;
	}
	f = budget_first_slot(saddr);
	if (f && budget_first_is(f, saddr))
		budget_give(&f->tokens);
}

#endif
