// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cordon datapath: judges every packet of a managed interface on tc ingress
 * (and the host's own packets on tc egress; repeats of denied flows are
 * dropped earlier, at XDP: lib/xdp.h) against the live generation of
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
#include "lib/encryption.h"
#include "lib/related.h"
#include "lib/budget.h"
#include "lib/fqdn.h"
#include "lib/dns.h"
#include "lib/xdp.h"
#include "lib/denied.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The generation a packet is judged by: its epoch, read once at its start.
 * The ipcache and policy lookups take it and look that epoch's slot maps up
 * themselves (cordon_ipcache_query, cordon_policy_query). User space writes
 * only the idle slot, the live epoch's predecessor's, so they are the maps
 * the packet's epoch named, even if the next one went live since (a packet
 * would have to outlast a whole apply to see another's).
 */
struct view {
	__u64 epoch;
	int audit_all;
	int link_local_drop;
};

static __always_inline const struct cordon_state *state_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cordon_state, &zero);
}

static __always_inline void view_begin(struct view *v)
{
	const struct cordon_state *st = state_get();

	__builtin_memset(v, 0, sizeof(*v));
	if (st) {
		v->epoch = *(volatile const __u64 *)&st->epoch;
		v->audit_all = st->flags & CORDON_STATE_F_AUDIT_ALL;
		v->link_local_drop = st->flags & CORDON_STATE_F_LINK_LOCAL_DROP;
	}
}

static __always_inline int finish(struct __sk_buff *skb,
				  const struct cordon_pkt *p, __u32 src_id,
				  __u32 dst_id, __u32 rule_id, __u8 verdict,
				  __u8 reason, __u64 now)
{
	count_verdict(rule_id, src_id, dst_id, verdict, reason, p->len);
	if (verdict != CORDON_VERDICT_ALLOW)
		event_emit(skb, 0, p, src_id, dst_id, rule_id, verdict, reason, now);
	return verdict == CORDON_VERDICT_DENY ? TC_ACT_SHOT : TC_ACT_OK;
}

/*
 * A packet of a tracked connection judged from its entry: its pair figure is
 * counted in the entry (cordon.h "counters"), not in cordon_pair_stats.
 */
static __always_inline int finish_known(struct __sk_buff *skb,
					const struct cordon_pkt *p,
					const struct cordon_flow_value *f, __u64 now)
{
	count_rule_reason(f->rule_id, f->reason, p->len);
	if (f->verdict != CORDON_VERDICT_ALLOW)
		event_emit(skb, 0, p, f->src_identity, f->dst_identity, f->rule_id,
			   f->verdict, f->reason, now);
	return f->verdict == CORDON_VERDICT_DENY ? TC_ACT_SHOT : TC_ACT_OK;
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

/*
 * v: where the entry is built (per CPU, off the judge's stack: struct
 * judgement). flags: the map update's; non-zero when it failed.
 */
static __always_inline long flow_start(enum flow_table t, const union flow_key *k,
				       struct cordon_flow_value *v,
				       struct __sk_buff *skb,
				       const struct cordon_pkt *p,
				       const struct decision *d, __u8 verdict,
				       const struct cordon_ipcache_value *src,
				       const struct cordon_ipcache_value *dst,
				       __u8 encryption, __u32 enc_next_seq,
				       __u64 epoch, __u64 now, __u64 flags)
{
	__builtin_memset(v, 0, sizeof(*v));
	v->first_seen_ns = now;
	v->last_seen_ns = now;
	v->packets_fwd = 1;
	v->bytes_fwd = p->len;
	v->paired_packets = 1;	/* finish() counts the first packet in its pair */
	v->paired_bytes = p->len;
	v->ifindex = skb->ifindex;
	v->policy_port = p->policy_port;
	v->encryption = encryption;
	v->enc_next_seq = enc_next_seq;
	v->enc_state = enc_next_seq ? CORDON_ENC_S_FWD_RECORD : 0;
	flow_decide(v, d, verdict, src, dst, epoch);
	if (p->protocol == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_FLAG_SYN)
			v->tcp_flags |= CORDON_TCP_SYN_FWD;
		if (p->tcp_flags & TCP_FLAG_FIN)
			v->tcp_flags |= CORDON_TCP_FIN_FWD;
		if (p->tcp_flags & TCP_FLAG_RST)
			v->tcp_flags |= CORDON_TCP_RST;
	}
	return flow_insert(t, p->family, k, v, flags);
}

/*
 * Remembers a first fragment for its later ones, within the source's budget.
 * now: the coarse clock (the budget's); the fragment table keeps precise time.
 */
static __always_inline int frag_admit(const struct cordon_pkt *p, __u32 src_id,
				      __u32 dst_id, __u32 rule_id, __u8 verdict,
				      __u32 sender_id, __u64 now)
{
	if (sender_id != CORDON_ID_HOST && !budget_take(p->saddr, now))
		return 0;
	frag_remember(p, src_id, dst_id, rule_id, verdict, bpf_ktime_get_ns());
	return 1;
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
	/* 2. payloads: classified; judged while a required handshake is under way */
	flow_payload(skb, p, f, reply,
		     audit_all || (f->flags & (CORDON_FLOW_F_SRC_AUDIT | CORDON_FLOW_F_DST_AUDIT)));
	/* an answered flow gives its source's token back */
	if (reply && !f->packets_rev && f->src_identity != CORDON_ID_HOST)
		budget_refund(p->daddr);
	flow_account(f, p, reply, now);
	/* 3. a first fragment, either way, vouches for its later ones */
	if (p->frag_first && f->verdict != CORDON_VERDICT_DENY &&
	    !frag_admit(p, f->src_identity, f->dst_identity, f->rule_id, f->verdict,
			reply ? f->dst_identity : f->src_identity, now)) {
		flow_paired(f, p->len);
		return finish(skb, p, f->src_identity, f->dst_identity, f->rule_id,
			      audited(CORDON_VERDICT_DENY, audit),
			      CORDON_REASON_FLOW_BUDGET, now);
	}
	return finish_known(skb, p, f, now);
}

/*
 * The policy lookup of a packet, out of line: a global function is verified
 * once, so its loop over port block sizes is not walked again for every path
 * that reaches it. It takes the epoch the packet's view read (global
 * functions cannot take map pointers) and looks up that slot's maps; user
 * space refills a slot only after the epoch has moved past it twice, so
 * they are the maps the view saw. proto_port: protocol << 16 | port (as on
 * the wire).
 */
__noinline int cordon_policy_query(__u64 epoch, __u32 src_id, __u32 dst_id,
				   __u32 proto_port, struct decision *d)
{
	void *entries = NULL, *masks = NULL;
	__u32 slot = epoch & 1;

	if (!d)
		return 0;
	if (epoch) {
		entries = bpf_map_lookup_elem(&cordon_policy, &slot);
		masks = bpf_map_lookup_elem(&cordon_policy_mask, &slot);
	}
	*d = policy_decide(entries, masks, src_id, dst_id, proto_port >> 16,
			   (__be16)(proto_port & 0xffff));
	return 0;
}

/* Which verdict wins when a destination has several identities: an enforced deny, then audit, then allow, then default deny. */
static __always_inline int decision_rank(const struct decision *d)
{
	if (d->verdict == CORDON_VERDICT_DENY)
		return d->rule_id ? 3 : 0;
	return d->verdict == CORDON_VERDICT_AUDIT ? 2 : 1;
}

/*
 * The policy's answers of the live epoch, per CPU (in struct judgement), by
 * (source, destination, protocol and port): a small direct-mapped cache in
 * front of cordon_policy_query. The policy maps of an epoch never change once
 * live (state.h), so an answer of the packet's epoch is the one it would look
 * up; a flood of one device's packets to one port pays the lookups once.
 */
struct policy_cached {
	__u64 epoch;		/* 0: empty */
	__u32 src_id;
	__u32 dst_id;
	__u32 proto_port;
	struct decision d;
};

#define POLICY_CACHE_BITS 4

/* A policy question about a connection and its answer (global functions take at most five arguments). */
struct judgement {
	__u64 epoch;
	__u32 src_id;
	__u32 dst_id;		/* the destination's ipcache identity */
	__u32 proto_port;	/* protocol << 16 | port, as cordon_policy_query takes it */
	__u32 tracked;		/* the connection is tracked already */
	struct cordon_host_key dst_addr;
	struct decision d;	/* out */
	__u32 dst_identity;	/* out: the identity that decided (the ipcache's, or a name selector's) */
	struct decision tmp;
	union flow_key key;	/* the packet's flow, or its reverse while looking */
	struct cordon_flow_value entry;	/* a new flow's entry, built here (flow_start) */
	struct policy_cached cache[1 << POLICY_CACHE_BITS];
};

/* Per CPU, off the stack: the judge's frame and those it calls share 512 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct judgement);
} cordon_judgement SEC(".maps");

/* Whether the live generation has name selectors (CORDON_STATE_F_NAMES). A frame of its own: the judge's chain has no byte to spare. */
static __noinline int names_in_generation(void)
{
	const struct cordon_state *st = state_get();

	return st && (st->flags & CORDON_STATE_F_NAMES);
}

/*
 * The policy of a connection to dst_addr: its ipcache identity first, then
 * each name selector a learned answer gave the address (cordon.h "fqdn"),
 * the strongest verdict winning. A learned address past its expiry counts
 * only for connections already tracked (`tracked`). One call site, verified once.
 */
__noinline int cordon_policy_judge(struct judgement *j)
{
	const struct cordon_fqdn_value *f;
	__u32 i, n;

	struct policy_cached *c;

	if (!j)
		return 0;
	i = ((j->src_id * 0x9e3779b1) ^ (j->dst_id * 0x85ebca6b) ^ j->proto_port) * 0xc2b2ae35;
	c = &j->cache[i >> (32 - POLICY_CACHE_BITS)];
	if (j->epoch && c->epoch == j->epoch && c->src_id == j->src_id &&
	    c->dst_id == j->dst_id && c->proto_port == j->proto_port) {
		j->d = c->d;
	} else {
		cordon_policy_query(j->epoch, j->src_id, j->dst_id, j->proto_port, &j->d);
		c->epoch = j->epoch;
		c->src_id = j->src_id;
		c->dst_id = j->dst_id;
		c->proto_port = j->proto_port;
		c->d = j->d;
	}
	j->dst_identity = j->dst_id;
	/* no name selectors in this generation: no learned address can matter (a swap racing this packet errs to deny) */
	if (!names_in_generation())
		return 0;
	f = bpf_map_lookup_elem(&cordon_fqdn, &j->dst_addr);
	if (!f || (!j->tracked && f->expires_ns <= bpf_ktime_get_ns()))
		return 0;
	n = f->count;
	for (i = 0; i < CORDON_FQDN_SELECTORS; i++) {
		if (i >= n)
			break;
		cordon_policy_query(j->epoch, j->src_id, f->selectors[i], j->proto_port, &j->tmp);
		if (decision_rank(&j->tmp) > decision_rank(&j->d)) {
			j->d = j->tmp;
			j->dst_identity = f->selectors[i];
		}
	}
	return 0;
}

/* A binding says entry's address lives at another MAC than this frame's, or than the link-layer address it announces. */
static __always_inline int nd_spoofed(const struct cordon_ipcache_value *entry,
				      const struct cordon_pkt *p,
				      const struct nd_claim *c, int announces)
{
	if (!(entry->flags & CORDON_IPC_F_MAC))
		return 0;
	if (!mac_eq(entry->mac, p->smac))
		return 1;
	return announces && c->has_lladdr && !mac_eq(entry->mac, c->lladdr);
}

static __always_inline int addr_unspecified(const __u8 *a)
{
	const __u64 *w = (const __u64 *)a;

	return w[0] == 0 && w[1] == 0;
}

/*
 * Neighbour discovery, as ARP: a bound address (the sender's, or the one an
 * advertisement or a duplicate address probe claims) is only claimed from
 * its MAC, in the frame and in the link-layer address option; nobody on a
 * segment claims the gateway's own addresses; router advertisements and
 * redirects come only from declared routers (ipcache CORDON_IPC_F_ROUTER).
 * The host's own messages (egress) pass.
 */
static __always_inline int judge_nd(struct __sk_buff *skb, const struct cordon_pkt *p,
				    struct view *view, int ingress, __u64 now)
{
	__u8 type = bpf_ntohs(p->policy_port) >> 8;
	struct cordon_ipcache_value who;
	struct nd_claim c;
	int audit;

	if (parse_nd(skb, p, &c) != PARSE_ND)
		return finish(skb, p, CORDON_ID_UNKNOWN, CORDON_ID_UNKNOWN, 0,
			      audited(CORDON_VERDICT_DENY, view->audit_all),
			      CORDON_REASON_MALFORMED, now);
	if (!ingress)
		return TC_ACT_OK;
	cordon_ipcache_query(view->epoch, (const struct cordon_host_key *)p->saddr, &who);
	audit = view->audit_all || (who.flags & CORDON_IPC_F_AUDIT);
	if (who.identity == CORDON_ID_HOST ||
	    nd_spoofed(&who, p, &c, type != ND_NEIGHBOUR_ADVERT))
		return finish_spoofed(skb, p, who.identity, audit, now);
	if ((type == ND_ROUTER_ADVERT || type == ND_REDIRECT) &&
	    !(who.flags & CORDON_IPC_F_ROUTER))
		return finish(skb, p, who.identity, CORDON_ID_UNKNOWN, 0,
			      audited(CORDON_VERDICT_DENY, audit),
			      CORDON_REASON_POLICY, now);
	if (c.has_target && (type == ND_NEIGHBOUR_ADVERT ||
			     (type == ND_NEIGHBOUR_SOLICIT && addr_unspecified(p->saddr)))) {
		cordon_ipcache_query(view->epoch, (const struct cordon_host_key *)c.target, &who);
		if (who.identity == CORDON_ID_HOST ||
		    nd_spoofed(&who, p, &c, type == ND_NEIGHBOUR_ADVERT))
			return finish_spoofed(skb, p, who.identity,
					      audit || (who.flags & CORDON_IPC_F_AUDIT), now);
	}
	return TC_ACT_OK;
}

/*
 * One function, verified once for both hooks (inlined into each, its paths
 * would be verified twice).
 */
__noinline int cordon_judge(struct __sk_buff *skb, int ingress)
{
	struct cordon_ipcache_value src, dst;
	struct cordon_flow_value *fv = NULL, *rv = NULL;
	struct cordon_pkt p = {};
	struct decision *d;
	struct judgement *j;
	union flow_key *key;	/* in j: the judge's stack has no room for it */
	struct view view;
	__u32 zero = 0;
	__u64 now;
	__u8 verdict;
	int rc, audit, replaces = BPF_NOEXIST;	/* BPF_ANY: over an expired entry */

	rc = parse_packet(skb, &p);
	if (rc == PARSE_PASS)
		return TC_ACT_OK;
	/*
	 * The coarse clock (a tick's precision, a fraction of the precise one's
	 * cost: ~35 ns here): enough for flow timeouts, first_seen_ns and
	 * last_seen_ns (as conntrack's jiffies are), new-flow budgets and
	 * event times. Only the fragment table reads the precise clock, where
	 * it is needed (frag_admit, frag_lookup).
	 */
	now = bpf_ktime_get_coarse_ns();
	view_begin(&view);
	j = bpf_map_lookup_elem(&cordon_judgement, &zero);
	if (!j)
		return TC_ACT_SHOT;	/* a per-CPU array always has its entry */
	key = &j->key;

	if (rc == PARSE_MALFORMED)
		return finish(skb, &p, CORDON_ID_UNKNOWN, CORDON_ID_UNKNOWN, 0,
			      audited(CORDON_VERDICT_DENY, view.audit_all),
			      CORDON_REASON_MALFORMED, now);
	if (rc == PARSE_NOT_IP || (rc == PARSE_LINK_LOCAL && view.link_local_drop))
		return finish(skb, &p, CORDON_ID_UNKNOWN, CORDON_ID_UNKNOWN, 0,
			      audited(CORDON_VERDICT_DENY, view.audit_all),
			      CORDON_REASON_POLICY, now);
	if (rc == PARSE_LINK_LOCAL) {
		count_link_local(p.len);
		return TC_ACT_OK;
	}
	if (rc == PARSE_ND)
		return judge_nd(skb, &p, &view, ingress, now);
	/* a UDP query to port 53: cordon_ingress steers it to the DNS proxy if allowed (no second parse for any other packet) */
	if (ingress && p.protocol == IPPROTO_UDP && p.dport == bpf_htons(DNS_PORT))
		skb->cb[0] = CB_DNS_QUERY;

	/*
	 * Fast path: a packet of a flow judged under this epoch, either way.
	 * The flow's entry carries its verdict and the MAC bindings it was
	 * judged with, so the ipcache and policy are not consulted.
	 */
	if (rc == PARSE_IP && !p.frag_later) {
		flow_key_of(key, &p);
		fv = flow_lookup(FLOWS, p.family, key);
		if (fv && flow_expired(fv, p.protocol, now)) {
			fv = NULL;
			replaces = BPF_ANY;
		}
		if (fv && fv->epoch == view.epoch)
			return judge_known(skb, &p, fv, 0, ingress, view.audit_all, now);
		/* a SYN the other way is a new connection, for the policy to judge */
		if (!fv && !tcp_opening(&p)) {
			flow_key_reverse(key, &p);
			rv = flow_lookup(FLOWS, p.family, key);
			if (rv && flow_expired(rv, p.protocol, now))
				rv = NULL;
			if (rv && rv->epoch == view.epoch)
				return judge_known(skb, &p, rv, 1, ingress, view.audit_all, now);
		}
		/* no connection either way: a flow denied under this epoch is denied again (lib/denied.h) */
		if (!fv && !rv && !p.icmp_error && cordon_denied_hinted(&p)) {
			rc = cordon_denied_repeat(skb, &p, view.epoch,
						  (ingress ? DENIED_F_INGRESS : 0) |
						  (view.audit_all ? DENIED_F_AUDIT_ALL : 0), now);
			if (rc >= 0)
				return rc;
			rc = PARSE_IP;
		}
	}

	cordon_ipcache_query(view.epoch, (const struct cordon_host_key *)p.saddr, &src);

	/* 1. anti-spoofing: a bound address from another MAC is dropped */
	if (ingress && spoofed(src.mac, src.flags & CORDON_IPC_F_MAC, &p))
		return finish_spoofed(skb, &p, src.identity,
				      view.audit_all || (src.flags & CORDON_IPC_F_AUDIT), now);
	if (rc == PARSE_ARP_CHECK) {
		/* nobody on a segment speaks for the gateway's own addresses */
		if (ingress && src.identity == CORDON_ID_HOST)
			return finish_spoofed(skb, &p, src.identity, view.audit_all, now);
		return TC_ACT_OK;
	}

	/* 2. an ICMP error about a tracked connection passes as that connection */
	if (p.icmp_error) {
		struct cordon_flow_value *rel = related_flow(skb, &p, src.identity, now);

		if (rel)
			return finish(skb, &p, rel->src_identity, rel->dst_identity,
				      rel->rule_id, rel->verdict, CORDON_REASON_NONE, now);
	}

	cordon_ipcache_query(view.epoch, (const struct cordon_host_key *)p.daddr, &dst);
	audit = view.audit_all || ((src.flags | dst.flags) & CORDON_IPC_F_AUDIT);

	/* 3. a later fragment passes only after its first fragment passed */
	if (p.frag_later) {
		const struct cordon_frag_value *f = frag_lookup(&p, bpf_ktime_get_ns());

		if (f)
			return finish(skb, &p, f->src_identity, f->dst_identity,
				      f->rule_id, f->verdict, CORDON_REASON_NONE,
				      now);
		return finish(skb, &p, src.identity, dst.identity, 0,
			      audited(CORDON_VERDICT_DENY, audit),
			      CORDON_REASON_FRAGMENT, now);
	}

	/* 4. ask the policy: for a new flow (or one whose epoch is stale), or,
	 * for a reply of a connection judged under an older epoch, of its
	 * original direction (one call site: the verifier walks it once) */
	j->epoch = view.epoch;
	if (rv) {
		j->src_id = dst.identity;
		j->dst_id = src.identity;
		j->proto_port = (__u32)p.protocol << 16 | rv->policy_port;
		j->tracked = 1;
		addr_copy(j->dst_addr.addr, p.saddr);
	} else {
		j->src_id = src.identity;
		j->dst_id = dst.identity;
		j->proto_port = (__u32)p.protocol << 16 | p.policy_port;
		j->tracked = fv != NULL;
		addr_copy(j->dst_addr.addr, p.daddr);
	}
	cordon_policy_judge(j);
	d = &j->d;
	/* the connection's destination is the identity that decided (a name selector's, maybe) */
	if (rv)
		src.identity = j->dst_identity;
	else
		dst.identity = j->dst_identity;
	if (rv) {
		flow_redecided(rv);
		flow_decide(rv, d, audited(d->verdict, audit), &dst, &src,
			    view.epoch);
		require_encryption(rv, audit);
		flow_payload(skb, &p, rv, 1, audit);
		flow_account(rv, &p, 1, now);
		flow_paired(rv, p.len);
		if (p.frag_first && rv->verdict != CORDON_VERDICT_DENY)
			frag_admit(&p, rv->src_identity, rv->dst_identity, rv->rule_id,
				   rv->verdict, rv->dst_identity, now);
		return finish(skb, &p, rv->src_identity, rv->dst_identity,
			      rv->rule_id, rv->verdict, rv->reason, now);
	}

	/* 5. a new flow (or one whose epoch is stale) */
	flow_key_of(key, &p);
	if (d->verdict == CORDON_VERDICT_DENY && looks_like_reply(&p))
		d->reason = CORDON_REASON_NO_CONNECTION;
	verdict = audited(d->verdict, audit);

	if (fv) {
		/* re-judged under the new epoch, counters and class kept */
		flow_redecided(fv);
		flow_decide(fv, d, verdict, &src, &dst, view.epoch);
		require_encryption(fv, audit);
		flow_payload(skb, &p, fv, 0, audit);
		flow_account(fv, &p, 0, now);
		flow_paired(fv, p.len);
		verdict = fv->verdict;
		d->reason = fv->reason;
	} else if (verdict != CORDON_VERDICT_DENY) {
		if (src.identity != CORDON_ID_HOST && !budget_take(p.saddr, now)) {
			/* over its source's budget: refused, and not tracked */
			verdict = audited(CORDON_VERDICT_DENY, audit);
			d->reason = CORDON_REASON_FLOW_BUDGET;
		} else {
			__u8 enc = classify(skb, &p);
			__u32 next_seq = 0;

			if ((d->flags & CORDON_POL_F_ENCRYPT_REQUIRED) && is_plaintext(enc)) {
				verdict = audited(CORDON_VERDICT_DENY, audit);
				d->reason = CORDON_REASON_PLAINTEXT;
			} else if (d->flags & CORDON_POL_F_ENCRYPT_REQUIRED) {
				next_seq = tls_first_record_end(skb, &p, enc);
			}
			/* kept with the connections, so its next packets take the fast path */
			if (flow_start(FLOWS, key, &j->entry, skb, &p, d, verdict, &src,
				       &dst, enc, next_seq, view.epoch, now, replaces)) {
				/*
				 * Another CPU started this flow since the lookup above
				 * (its first packets on two CPUs at once): the packet
				 * is counted in that entry, or its counters are lost.
				 */
				struct cordon_flow_value *won = flow_lookup(FLOWS, p.family, key);

				if (won) {
					flow_account(won, &p, 0, now);
					flow_paired(won, p.len);
				}
			}
		}
	} else {
		struct cordon_flow_value *dv = flow_lookup(DENIED, p.family, key);

		if (dv) {
			flow_decide(dv, d, verdict, &src, &dst, view.epoch);
			flow_account(dv, &p, 0, now);
		} else {
			flow_start(DENIED, key, &j->entry, skb, &p, d, verdict,
				   &src, &dst, CORDON_ENC_PENDING, 0, view.epoch, now, BPF_ANY);
		}
		cordon_denied_remember(&p);	/* its repeats look the entry up (lib/denied.h) */
	}
	if (p.frag_first && verdict != CORDON_VERDICT_DENY &&
	    !frag_admit(&p, src.identity, dst.identity, d->rule_id, verdict,
			src.identity, now)) {
		verdict = audited(CORDON_VERDICT_DENY, audit);
		d->reason = CORDON_REASON_FLOW_BUDGET;
	}
	return finish(skb, &p, src.identity, dst.identity, d->rule_id, verdict,
		      d->reason, now);
}

SEC("tc")
int cordon_ingress(struct __sk_buff *skb)
{
	int rc;

	skb->cb[0] = 0;
	rc = cordon_judge(skb, 1);
	/* an allowed query to a declared resolver goes to the enforcer's DNS proxy */
	if (rc == TC_ACT_OK && skb->cb[0] == CB_DNS_QUERY)
		dns_steer_query(skb);
	return rc;
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
	/* the DNS proxy's answers leave as their resolver's, then are judged as its replies */
	dns_restore_answer(skb);
	return cordon_judge(skb, 0);
}

/* Before tc on ingress: drops repeats of flows denied under the live epoch, passes everything else (lib/xdp.h). */
SEC("xdp")
int cordon_xdp(struct xdp_md *ctx)
{
	return xdp_judge(ctx);
}
