/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared includes and small helpers of the datapath. */
#ifndef CORDON_LIB_COMMON_H
#define CORDON_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../cordon.h"

#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC 1000000000ULL
#endif

/*
 * An outer map holding one inner map per generation slot (see state.h),
 * pinned so a restarted daemon adopts the live generation.
 */
#define CORDON_SLOTS_OF(inner)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);	\
		__uint(max_entries, CORDON_SLOTS);		\
		__type(key, __u32);				\
		__uint(pinning, LIBBPF_PIN_BY_NAME);		\
		__array(values, struct inner);			\
	}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

static __always_inline void addr_copy(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 16);
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/*
 * A token bucket counted in nanoseconds (a token is NSEC_PER_SEC of them):
 * refilled at rate tokens a second for the time since *last_ns (at most
 * max_refill_ns of it), up to burst tokens, then one token taken; 0 when it
 * is empty. now may be the coarse clock, up to a tick behind a *last_ns an
 * older build stamped on the precise one (pinned maps): then no time
 * passed, and *last_ns never moves back.
 */
static __always_inline int token_take(__u64 *tokens, __u64 *last_ns, __u64 now,
				      __u64 rate, __u64 burst, __u64 max_refill_ns)
{
	__u64 cap = burst * NSEC_PER_SEC, elapsed = 0;

	if ((__s64)(now - *last_ns) > 0) {
		elapsed = now - *last_ns;
		*last_ns = now;
	}
	if (elapsed > max_refill_ns)
		elapsed = max_refill_ns;
	*tokens += elapsed * rate;
	if (*tokens > cap)
		*tokens = cap;
	if (*tokens < NSEC_PER_SEC)
		return 0;
	*tokens -= NSEC_PER_SEC;
	return 1;
}

/* Audit mode turns a drop into a pass that is still counted and reported. */
static __always_inline __u8 audited(__u8 verdict, int audit)
{
	return verdict == CORDON_VERDICT_DENY && audit ? CORDON_VERDICT_AUDIT :
							  verdict;
}

#endif
