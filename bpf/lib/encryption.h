/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Encryption required: a flow whose deciding rule requires it is judged on
 * each payload until its handshake is established both ways (cordon.h
 * CORDON_ENC_S_*); in clear, it is dropped from that packet on. The payload
 * of any other flow is classified once (classify.h).
 */
#ifndef CORDON_LIB_ENCRYPTION_H
#define CORDON_LIB_ENCRYPTION_H

#include "common.h"
#include "parse.h"
#include "classify.h"

/*
 * A flow whose rule requires encryption and whose first payload is in clear
 * is dropped from that packet on (in audit mode: reported, passed).
 */
static __always_inline void refuse_plaintext(struct cordon_flow_value *f, int audit)
{
	f->verdict = audited(CORDON_VERDICT_DENY, audit);
	f->reason = CORDON_REASON_PLAINTEXT;
}

static __always_inline void require_encryption(struct cordon_flow_value *f, int audit)
{
	if ((f->flags & CORDON_FLOW_F_ENCRYPT_REQUIRED) && is_plaintext(f->encryption) &&
	    f->verdict != CORDON_VERDICT_DENY)
		refuse_plaintext(f, audit);
}

/* Where the TLS record this first payload starts ends (0: not a TLS record over TCP). */
static __always_inline __u32 tls_first_record_end(struct __sk_buff *skb,
						  const struct cordon_pkt *p, __u8 enc)
{
	__u32 len;

	if (enc != CORDON_ENC_TLS || p->protocol != IPPROTO_TCP ||
	    !tls_record_at(skb, p, 0, &len))
		return 0;
	return (p->tcp_seq + 5 + len) ?: 1;
}

#define TLS_RECORDS_PER_SEGMENT 4

/*
 * A later forward TCP payload of a TLS flow whose server has not answered
 * yet: its bytes must continue the records already seen, and every record
 * that starts in it must be a TLS record. A segment past a gap cannot be
 * told from a plaintext one, so it is refused too.
 */
static __always_inline int tls_continues(struct __sk_buff *skb,
					 const struct cordon_pkt *p,
					 struct cordon_flow_value *f)
{
	__u32 end = p->tcp_seq + p->payload_len, next = f->enc_next_seq, len;
	int i;

	if ((__s32)(end - next) <= 0)
		return 1;		/* inside what was judged (a retransmission, or
					 * the rest of the first record) */
	if ((__s32)(p->tcp_seq - next) > 0)
		return 0;
	for (i = 0; i < TLS_RECORDS_PER_SEGMENT; i++) {
		if (!tls_record_at(skb, p, next - p->tcp_seq, &len))
			return 0;
		next += 5 + len;
		if ((__s32)(end - next) <= 0) {
			f->enc_next_seq = next;
			return 1;
		}
	}
	return 0;
}

/*
 * Every payload of a flow whose rule requires encryption is judged until its
 * handshake is established both ways: the first forward payload is of an
 * encrypted class, the first reverse one answers with one too. Until then a
 * later forward payload continues TLS records (TCP) or is itself of an
 * encrypted class (DTLS, QUIC); anything in clear drops the flow.
 */
__noinline int cordon_judge_encryption(struct __sk_buff *skb,
				       const struct cordon_pkt *p,
				       struct cordon_flow_value *f,
				       int reply, int audit)
{
	__u8 c;

	/* a function of its own, verified once: its paths do not multiply the caller's */
	if (!p || !f)
		return 0;
	if (reply) {
		if (f->enc_state & CORDON_ENC_S_REV_SEEN)
			return 0;
		if (is_plaintext(classify(skb, p)))
			refuse_plaintext(f, audit);
		else
			f->enc_state |= CORDON_ENC_S_REV_SEEN;
		return 0;
	}
	if (f->encryption == CORDON_ENC_PENDING) {
		c = classify(skb, p);
		f->encryption = c;
		if (is_plaintext(c)) {
			refuse_plaintext(f, audit);
			return 0;
		}
		f->enc_next_seq = tls_first_record_end(skb, p, c);
		if (f->enc_next_seq)
			f->enc_state |= CORDON_ENC_S_FWD_RECORD;
		return 0;
	}
	if (f->enc_state & CORDON_ENC_S_FWD_RECORD) {
		if (!tls_continues(skb, p, f))
			refuse_plaintext(f, audit);
		return 0;
	}
	if (is_plaintext(classify(skb, p)))
		refuse_plaintext(f, audit);
	return 0;
}

/* The payload of a packet of a known flow: classified, and judged where encryption is required. */
static __always_inline void flow_payload(struct __sk_buff *skb,
					 const struct cordon_pkt *p,
					 struct cordon_flow_value *f, int reply,
					 int audit)
{
	if (!p->payload_len)
		return;
	if (f->flags & CORDON_FLOW_F_ENCRYPT_REQUIRED) {
		if (f->verdict == CORDON_VERDICT_DENY || f->reason == CORDON_REASON_PLAINTEXT)
			return;
		if ((f->enc_state & CORDON_ENC_S_REV_SEEN) &&
		    f->encryption != CORDON_ENC_PENDING)
			return;		/* established both ways */
		cordon_judge_encryption(skb, p, f, reply, audit);
	} else if (!reply && f->encryption == CORDON_ENC_PENDING) {
		f->encryption = classify(skb, p);
	}
}

#endif
