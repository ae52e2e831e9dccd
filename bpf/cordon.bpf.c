// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cordon datapath: judges every packet of a managed interface on tc ingress
 * (and the host's own packets on tc egress) against the live generation of
 * identities and policy, tracks connections, counts every verdict and reports
 * drops. See ../shared/DESIGN.md "Semantics" for what each rule promises.
 */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/state.h"
#include "lib/ipcache.h"
#include "lib/policy.h"
#include "lib/conntrack.h"
#include "lib/frag.h"
#include "lib/counters.h"
#include "lib/events.h"
#include "lib/classify.h"
#include "lib/related.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The generation a packet is judged by, read once at its start. */
struct view {
	__u64 epoch;
	void *hosts;
	void *prefixes;
	void *policy;
	void *policy_mask;
	int audit_all;
	int maps_loaded;
};

static __always_inline const struct cordon_state *state_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cordon_state, &zero);
}

static __always_inline void view_read(struct view *v,
				      const struct cordon_state *st)
{
	__u32 slot;

	v->epoch = *(volatile const __u64 *)&st->epoch;
	v->audit_all = st->flags & CORDON_STATE_F_AUDIT_ALL;
	v->hosts = NULL;
	v->prefixes = NULL;
	v->policy = NULL;
	v->policy_mask = NULL;
	v->maps_loaded = 1;
	if (!v->epoch)
		return;		/* nothing loaded: world everywhere, default deny */
	slot = v->epoch & 1;
	v->hosts = bpf_map_lookup_elem(&cordon_hosts, &slot);
	v->prefixes = bpf_map_lookup_elem(&cordon_prefixes, &slot);
	v->policy = bpf_map_lookup_elem(&cordon_policy, &slot);
	v->policy_mask = bpf_map_lookup_elem(&cordon_policy_mask, &slot);
}

/* The epoch alone: enough for packets of flows judged under it. */
static __always_inline void view_begin(struct view *v)
{
	const struct cordon_state *st = state_get();

	__builtin_memset(v, 0, sizeof(*v));
	if (st) {
		v->epoch = *(volatile const __u64 *)&st->epoch;
		v->audit_all = st->flags & CORDON_STATE_F_AUDIT_ALL;
	}
}

/*
 * The maps of the live slot, for packets that need identities or policy.
 * User space fills the idle slot, then bumps the epoch; it touches a slot
 * again only after the epoch has moved past it. So if the epoch is the same
 * before and after the lookups, all four maps belong to one generation; if
 * not, the generation changed under us and one more read is enough.
 */
static __always_inline void view_load_maps(struct view *v)
{
	const struct cordon_state *st = state_get();

	if (!st || v->maps_loaded)
		return;
	view_read(v, st);
	if (*(volatile const __u64 *)&st->epoch != v->epoch)
		view_read(v, st);
}

/* Audit mode turns a drop into a pass that is still counted and reported. */
static __always_inline __u8 audited(__u8 verdict, int audit)
{
	return verdict == CORDON_VERDICT_DENY && audit ? CORDON_VERDICT_AUDIT :
							  verdict;
}

/* A TCP packet other than an opening SYN, or an ICMP echo reply. */
static __always_inline int looks_like_reply(const struct cordon_pkt *p)
{
	if (p->protocol == IPPROTO_TCP)
		return (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN;
	return p->icmp_kind == ICMP_KIND_ECHO_REPLY;
}

static __always_inline int finish(struct __sk_buff *skb,
				  const struct cordon_pkt *p, __u32 src_id,
				  __u32 dst_id, __u32 rule_id, __u8 verdict,
				  __u8 reason, __u64 now)
{
	count_verdict(rule_id, src_id, dst_id, verdict, reason, p->len);
	if (verdict != CORDON_VERDICT_ALLOW)
		event_emit(skb, p, src_id, dst_id, rule_id, verdict, reason, now);
	return verdict == CORDON_VERDICT_DENY ? TC_ACT_SHOT : TC_ACT_OK;
}

/* The sender's address is bound to another MAC than the frame's. */
static __always_inline int spoofed(const __u8 *bound_mac, int bound,
				   const struct cordon_pkt *p)
{
	return bound && !mac_eq(bound_mac, p->smac);
}

static __always_inline int finish_spoofed(struct __sk_buff *skb,
					  const struct cordon_pkt *p,
					  __u32 src_id, int audit, __u64 now)
{
	return finish(skb, p, src_id, CORDON_ID_UNKNOWN, 0,
		      audited(CORDON_VERDICT_DENY, audit),
		      CORDON_REASON_SPOOFED, now);
}

/* Records a decision, and what the ipcache said of both ends when it was made. */
static __always_inline void flow_decide(struct cordon_flow_value *v,
					const struct decision *d, __u8 verdict,
					const struct cordon_ipcache_value *src,
					const struct cordon_ipcache_value *dst,
					__u64 epoch)
{
	v->verdict = verdict;
	v->reason = d->reason;
	v->rule_id = d->rule_id;
	v->src_identity = src->identity;
	v->dst_identity = dst->identity;
	v->epoch = epoch;
	v->flags = ((src->flags & CORDON_IPC_F_MAC) ? CORDON_FLOW_F_SRC_MAC : 0) |
		   ((dst->flags & CORDON_IPC_F_MAC) ? CORDON_FLOW_F_DST_MAC : 0) |
		   ((src->flags & CORDON_IPC_F_AUDIT) ? CORDON_FLOW_F_SRC_AUDIT : 0) |
		   ((dst->flags & CORDON_IPC_F_AUDIT) ? CORDON_FLOW_F_DST_AUDIT : 0) |
		   ((d->flags & CORDON_POL_F_ENCRYPT_REQUIRED) ? CORDON_FLOW_F_ENCRYPT_REQUIRED : 0);
	__builtin_memcpy(v->src_mac, src->mac, 6);
	__builtin_memcpy(v->dst_mac, dst->mac, 6);
}

static __always_inline void flow_start(void *map, const struct cordon_flow_key *k,
				       struct __sk_buff *skb,
				       const struct cordon_pkt *p,
				       const struct decision *d, __u8 verdict,
				       const struct cordon_ipcache_value *src,
				       const struct cordon_ipcache_value *dst,
				       __u8 encryption, __u64 epoch, __u64 now)
{
	struct cordon_flow_value v = {
		.first_seen_ns = now,
		.last_seen_ns = now,
		.packets_fwd = 1,
		.bytes_fwd = p->len,
		.ifindex = skb->ifindex,
		.policy_port = p->policy_port,
		.encryption = encryption,
	};

	flow_decide(&v, d, verdict, src, dst, epoch);
	if (p->protocol == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_FLAG_SYN)
			v.tcp_flags |= CORDON_TCP_SYN_FWD;
		if (p->tcp_flags & TCP_FLAG_FIN)
			v.tcp_flags |= CORDON_TCP_FIN_FWD;
		if (p->tcp_flags & TCP_FLAG_RST)
			v.tcp_flags |= CORDON_TCP_RST;
	}
	bpf_map_update_elem(map, k, &v, BPF_ANY);
}

/*
 * A flow whose rule requires encryption and whose first payload is in clear
 * is dropped from that packet on (in audit mode: reported, passed).
 */
static __always_inline void require_encryption(struct cordon_flow_value *f, int audit)
{
	if ((f->flags & CORDON_FLOW_F_ENCRYPT_REQUIRED) && is_plaintext(f->encryption) &&
	    f->verdict != CORDON_VERDICT_DENY) {
		f->verdict = audited(CORDON_VERDICT_DENY, audit);
		f->reason = CORDON_REASON_PLAINTEXT;
	}
}

/* A packet of a flow judged under the live epoch: no ipcache, no policy. */
static __always_inline int judge_known(struct __sk_buff *skb,
				       const struct cordon_pkt *p,
				       struct cordon_flow_value *f, int reply,
				       int ingress, int audit_all, __u64 now)
{
	const __u8 *mac = reply ? f->dst_mac : f->src_mac;
	int bound = f->flags & (reply ? CORDON_FLOW_F_DST_MAC : CORDON_FLOW_F_SRC_MAC);
	int audit = audit_all ||
		    (f->flags & (reply ? CORDON_FLOW_F_DST_AUDIT : CORDON_FLOW_F_SRC_AUDIT));

	/* 1. anti-spoofing, against the binding the flow was judged with */
	if (ingress && spoofed(mac, bound, p))
		return finish_spoofed(skb, p, reply ? f->dst_identity : f->src_identity,
				      audit, now);
	/* 2. the first payload of the forward direction is classified, once */
	if (!reply && f->encryption == CORDON_ENC_PENDING && p->payload_len) {
		f->encryption = classify(skb, p);
		require_encryption(f, audit_all || (f->flags & (CORDON_FLOW_F_SRC_AUDIT |
								CORDON_FLOW_F_DST_AUDIT)));
	}
	flow_account(f, p, reply, now);
	if (!reply && p->frag_first && f->verdict != CORDON_VERDICT_DENY)
		frag_remember(p, f->src_identity, f->dst_identity, f->rule_id,
			      f->verdict, now);
	return finish(skb, p, f->src_identity, f->dst_identity, f->rule_id,
		      f->verdict, f->reason, now);
}

static __always_inline int judge(struct __sk_buff *skb, int ingress)
{
	struct cordon_ipcache_value src, dst;
	struct cordon_flow_value *fv = NULL, *rv = NULL;
	struct cordon_flow_key key, rkey;
	struct cordon_pkt p = {};
	struct decision d;
	struct view view;
	__u64 now;
	__u8 verdict;
	int rc, audit;

	rc = parse_packet(skb, &p);
	if (rc == PARSE_PASS)
		return TC_ACT_OK;
	now = bpf_ktime_get_ns();
	view_begin(&view);

	if (rc == PARSE_MALFORMED)
		return finish(skb, &p, CORDON_ID_UNKNOWN, CORDON_ID_UNKNOWN, 0,
			      audited(CORDON_VERDICT_DENY, view.audit_all),
			      CORDON_REASON_MALFORMED, now);
	if (rc == PARSE_NOT_IP)
		return finish(skb, &p, CORDON_ID_UNKNOWN, CORDON_ID_UNKNOWN, 0,
			      audited(CORDON_VERDICT_DENY, view.audit_all),
			      CORDON_REASON_POLICY, now);

	/*
	 * Fast path: a packet of a flow judged under this epoch, either way.
	 * The flow's entry carries its verdict and the MAC bindings it was
	 * judged with, so the ipcache and policy are not consulted.
	 */
	if (rc == PARSE_IP && !p.frag_later) {
		flow_key_of(&key, &p);
		fv = bpf_map_lookup_elem(&cordon_flows, &key);
		if (fv && flow_expired(fv, p.protocol, now))
			fv = NULL;
		if (fv && fv->epoch == view.epoch)
			return judge_known(skb, &p, fv, 0, ingress, view.audit_all, now);
		if (!fv) {
			flow_key_reverse(&rkey, &p);
			rv = bpf_map_lookup_elem(&cordon_flows, &rkey);
			if (rv && flow_expired(rv, p.protocol, now))
				rv = NULL;
			if (rv && rv->epoch == view.epoch)
				return judge_known(skb, &p, rv, 1, ingress, view.audit_all, now);
		}
	}

	view_load_maps(&view);
	ipcache_lookup(view.hosts, view.prefixes, p.saddr, &src);

	/* 1. anti-spoofing: a bound address from another MAC is dropped */
	if (ingress && spoofed(src.mac, src.flags & CORDON_IPC_F_MAC, &p))
		return finish_spoofed(skb, &p, src.identity,
				      view.audit_all || (src.flags & CORDON_IPC_F_AUDIT), now);
	if (rc == PARSE_ARP_CHECK)
		return TC_ACT_OK;

	/* 2. an ICMP error about a tracked connection passes as that connection */
	if (p.icmp_error) {
		struct cordon_flow_value *rel = related_flow(skb, &p, now);

		if (rel)
			return finish(skb, &p, rel->src_identity, rel->dst_identity,
				      rel->rule_id, rel->verdict, CORDON_REASON_NONE, now);
	}

	ipcache_lookup(view.hosts, view.prefixes, p.daddr, &dst);
	audit = view.audit_all || ((src.flags | dst.flags) & CORDON_IPC_F_AUDIT);

	/* 3. a later fragment passes only after its first fragment passed */
	if (p.frag_later) {
		const struct cordon_frag_value *f = frag_lookup(&p, now);

		if (f)
			return finish(skb, &p, f->src_identity, f->dst_identity,
				      f->rule_id, f->verdict, CORDON_REASON_NONE,
				      now);
		return finish(skb, &p, src.identity, dst.identity, 0,
			      audited(CORDON_VERDICT_DENY, audit),
			      CORDON_REASON_FRAGMENT, now);
	}

	/* 4. a reply of a connection judged under an older epoch: judge its
	 * original direction again */
	if (rv) {
		d = policy_decide(view.policy, view.policy_mask, dst.identity,
				  src.identity, p.protocol, rv->policy_port);
		flow_decide(rv, &d, audited(d.verdict, audit), &dst, &src,
			    view.epoch);
		require_encryption(rv, audit);
		flow_account(rv, &p, 1, now);
		return finish(skb, &p, rv->src_identity, rv->dst_identity,
			      rv->rule_id, rv->verdict, rv->reason, now);
	}

	/* 5. a new flow (or one whose epoch is stale): ask the policy */
	d = policy_decide(view.policy, view.policy_mask, src.identity,
			  dst.identity, p.protocol, p.policy_port);
	if (d.verdict == CORDON_VERDICT_DENY && looks_like_reply(&p))
		d.reason = CORDON_REASON_NO_CONNECTION;
	verdict = audited(d.verdict, audit);

	if (fv) {
		/* re-judged under the new epoch, counters and class kept */
		flow_decide(fv, &d, verdict, &src, &dst, view.epoch);
		if (fv->encryption == CORDON_ENC_PENDING && p.payload_len)
			fv->encryption = classify(skb, &p);
		require_encryption(fv, audit);
		flow_account(fv, &p, 0, now);
		verdict = fv->verdict;
		d.reason = fv->reason;
	} else if (verdict != CORDON_VERDICT_DENY) {
		__u8 enc = classify(skb, &p);

		if ((d.flags & CORDON_POL_F_ENCRYPT_REQUIRED) && is_plaintext(enc)) {
			verdict = audited(CORDON_VERDICT_DENY, audit);
			d.reason = CORDON_REASON_PLAINTEXT;
		}
		/* kept with the connections, so its next packets take the fast path */
		flow_start(&cordon_flows, &key, skb, &p, &d, verdict, &src, &dst,
			   enc, view.epoch, now);
	} else {
		struct cordon_flow_value *dv = bpf_map_lookup_elem(&cordon_denied, &key);

		if (dv) {
			flow_decide(dv, &d, verdict, &src, &dst, view.epoch);
			flow_account(dv, &p, 0, now);
		} else {
			flow_start(&cordon_denied, &key, skb, &p, &d, verdict,
				   &src, &dst, CORDON_ENC_PENDING, view.epoch, now);
		}
	}
	if (p.frag_first && verdict != CORDON_VERDICT_DENY)
		frag_remember(&p, src.identity, dst.identity, d.rule_id,
			      verdict, now);
	return finish(skb, &p, src.identity, dst.identity, d.rule_id, verdict,
		      d.reason, now);
}

SEC("tc")
int cordon_ingress(struct __sk_buff *skb)
{
	return judge(skb, 1);
}

/*
 * On egress only the host's own packets are judged: forwarded ones were
 * judged when they came in (ingress_ifindex is set for them).
 */
SEC("tc")
int cordon_egress(struct __sk_buff *skb)
{
	if (skb->ingress_ifindex)
		return TC_ACT_OK;
	return judge(skb, 0);
}
