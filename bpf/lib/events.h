/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Drop and audit events through a ring buffer, rate-limited per CPU by a
 * token bucket so a flood of drops never floods user space; what the bucket
 * holds back is counted in `suppressed`.
 */
#ifndef CORDON_LIB_EVENTS_H
#define CORDON_LIB_EVENTS_H

#include "common.h"
#include "parse.h"

const volatile __u64 event_rate_per_sec = 1000;	/* per CPU */
const volatile __u64 event_burst = 1000;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct cordon_event_budget);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_event_budget SEC(".maps");

static __always_inline int event_take_token(__u64 now)
{
	__u32 zero = 0;
	struct cordon_event_budget *b = bpf_map_lookup_elem(&cordon_event_budget, &zero);

	if (!b)
		return 0;
	if (token_take(&b->tokens, &b->last_ns, now, event_rate_per_sec, event_burst,
		       10 * NSEC_PER_SEC))
		return 1;
	b->suppressed++;
	return 0;
}

/*
 * ctx: the tc program's skb, or with xdp set the XDP program's context (a
 * constant, folded away). Its ifindex is read after the reservation: a value
 * read before would live on the judge's stack, which has no byte to spare.
 */
static __always_inline void event_emit(void *ctx, int xdp,
				       const struct cordon_pkt *p,
				       __u32 src_id, __u32 dst_id,
				       __u32 rule_id, __u8 verdict, __u8 reason,
				       __u64 now)
{
	struct cordon_event *e;

	if (!event_take_token(now))
		return;
	e = bpf_ringbuf_reserve(&cordon_events, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = now;
	addr_copy(e->saddr, p->saddr);
	addr_copy(e->daddr, p->daddr);
	e->sport = p->sport;
	e->dport = p->policy_port;
	e->protocol = p->protocol;
	e->family = p->family;
	e->verdict = verdict;
	e->reason = reason;
	e->src_identity = src_id;
	e->dst_identity = dst_id;
	e->rule_id = rule_id;
	e->ifindex = xdp ? ((struct xdp_md *)ctx)->ingress_ifindex :
			   ((struct __sk_buff *)ctx)->ifindex;
	__builtin_memcpy(e->smac, p->smac, 6);
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

#endif
