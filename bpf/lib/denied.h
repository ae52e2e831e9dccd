/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The denied repeat, tc's twin of the XDP short-cut (xdp.h) for egress and
 * for interfaces without XDP: a packet of a flow the policy denied under the
 * live epoch, with no connection tracked either way, is denied again with
 * the decision its flow entry recorded, without the ipcache and the policy.
 * Both are immutable for an epoch (state.h), so that decision is the one
 * they would give again; the reason is recomputed per packet (a reply-
 * looking packet is "no connection"). The caller leaves to the full judge
 * whatever could be judged otherwise: a fragment, an ICMP error (it may be
 * about a tracked connection), a tracked or stale entry either way. Here,
 * too: another MAC than the decision's on ingress (spoofed), audit, a
 * generation with name selectors (learned addresses change within an
 * epoch), and any decision other than the policy's deny.
 */
#ifndef CORDON_LIB_DENIED_H
#define CORDON_LIB_DENIED_H

#include "common.h"
#include "parse.h"
#include "state.h"
#include "conntrack.h"
#include "counters.h"
#include "events.h"

/* Load-time switch (off: every denied packet takes the full judge, as before; the bench compares both). */
const volatile __u8 denied_shortcut = 1;

/* The flow key, per CPU off the stack: the judge's frame leaves this function 80 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union flow_key);
} cordon_denied_key SEC(".maps");

/*
 * A hint, per CPU, of the flows denied lately: a small direct-mapped table of
 * flow hashes, set when a flow is denied. A packet looks its flow's entry up
 * only when its hash is there: every other packet of a new flow would pay a
 * miss in a large table (measured: ~280 ns on a new connection). Only a hint:
 * the entry's checks decide.
 */
#define DENIED_HINTS 256

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DENIED_HINTS);
	__type(key, __u32);
	__type(value, __u32);
} cordon_denied_hint SEC(".maps");

static __always_inline __u32 denied_hash(const struct cordon_pkt *p)
{
	const __u32 *s = (const __u32 *)p->saddr, *d = (const __u32 *)p->daddr;
	__u32 h;

	h = (s[0] ^ s[1] ^ s[2] ^ s[3]) * 0x9e3779b1;
	h = (h ^ d[0] ^ d[1] ^ d[2] ^ d[3]) * 0x85ebca6b;
	h = (h ^ ((__u32)p->sport << 16 | p->dport)) * 0xc2b2ae35;
	return (h ^ p->protocol ^ (h >> 16)) | 1;	/* never 0: an empty slot */
}

/* Marks this packet's flow as denied lately (the full judge just denied it). */
__noinline int cordon_denied_remember(const struct cordon_pkt *p)
{
	__u32 h, slot, *hint;

	if (!p || !denied_shortcut)
		return 0;
	h = denied_hash(p);
	slot = h % DENIED_HINTS;
	hint = bpf_map_lookup_elem(&cordon_denied_hint, &slot);
	if (hint && *hint != h)
		*hint = h;
	return 0;
}

/* Whether this packet's flow was denied lately on this CPU (its entry is worth looking up). */
__noinline int cordon_denied_hinted(const struct cordon_pkt *p)
{
	__u32 h, slot, *hint;

	if (!p || !denied_shortcut)
		return 0;
	h = denied_hash(p);
	slot = h % DENIED_HINTS;
	hint = bpf_map_lookup_elem(&cordon_denied_hint, &slot);
	return hint && *hint == h;
}

#define DENIED_F_INGRESS 0x1
#define DENIED_F_AUDIT_ALL 0x2

/*
 * The packet's tc verdict when its flow's denial holds, or -1: the full
 * judge decides. epoch: the one the packet's view read. Global, so verified
 * once and out of the judge's frame (whose stack is at its limit).
 */
__noinline int cordon_denied_repeat(struct __sk_buff *skb, const struct cordon_pkt *p,
				    __u64 epoch, __u32 flags, __u64 now)
{
	const struct cordon_state *st;
	struct cordon_flow_value *dv;
	union flow_key *key;
	__u32 idx = 0;
	__u8 reason;

	if (!p || !denied_shortcut || !epoch || (flags & DENIED_F_AUDIT_ALL))
		return -1;
	st = bpf_map_lookup_elem(&cordon_state, &idx);
	if (!st || (st->flags & (CORDON_STATE_F_NAMES | CORDON_STATE_F_AUDIT_ALL)))
		return -1;
	key = bpf_map_lookup_elem(&cordon_denied_key, &idx);
	if (!key)
		return -1;
	flow_key_of(key, p);
	dv = flow_lookup(DENIED, p->family, key);
	if (!dv || dv->epoch != epoch || dv->verdict != CORDON_VERDICT_DENY ||
	    (dv->reason != CORDON_REASON_POLICY && dv->reason != CORDON_REASON_NO_CONNECTION) ||
	    (dv->flags & (CORDON_FLOW_F_SRC_AUDIT | CORDON_FLOW_F_DST_AUDIT)))
		return -1;
	if ((flags & DENIED_F_INGRESS) && (dv->flags & CORDON_FLOW_F_SRC_MAC) &&
	    !mac_eq(dv->src_mac, p->smac))
		return -1;
	reason = looks_like_reply(p) ? CORDON_REASON_NO_CONNECTION : CORDON_REASON_POLICY;
	if (dv->reason != reason)
		dv->reason = reason;
	flow_account(dv, p, 0, now);
	count_verdict(dv->rule_id, dv->src_identity, dv->dst_identity,
		      CORDON_VERDICT_DENY, reason, p->len);
	event_emit(skb, 0, p, dv->src_identity, dv->dst_identity, dv->rule_id,
		   CORDON_VERDICT_DENY, reason, now);
	return TC_ACT_SHOT;
}

#endif
