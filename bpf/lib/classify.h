/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Encrypted or plaintext: the first payload of a flow's forward direction is
 * classified once and the class kept in the flow entry, so later packets pay
 * one byte compare. Signatures, first bytes of the payload:
 *   TLS   16 03 0x        (handshake record, TLS 1.0-1.3)           TCP
 *   DTLS  16 fe xx        (handshake record, DTLS 1.0/1.2/1.3)      UDP
 *   QUIC  1x......        (long header: form and fixed bits set,
 *         + version != 0)                                           UDP
 *   SSH   "SSH-"                                                    TCP
 *   MQTT  10 <len> 00 04 "MQTT" | 00 06 "MQIsdp" (CONNECT)          TCP
 *   HTTP  a request method or "HTTP/"                               TCP
 *   CoAP  version 1, token length <= 8, a request or response code  UDP
 * Anything else is plaintext: what is not known to be encrypted is not.
 */
#ifndef CORDON_LIB_CLASSIFY_H
#define CORDON_LIB_CLASSIFY_H

#include "common.h"
#include "parse.h"

/* Load-time switch: off, the verifier removes classification entirely. */
const volatile __u8 classify_payload = 1;

#define CLASSIFY_BYTES 10

static __always_inline int starts4(const __u8 *b, char c0, char c1, char c2, char c3)
{
	return b[0] == c0 && b[1] == c1 && b[2] == c2 && b[3] == c3;
}

static __always_inline __u8 classify_bytes(const __u8 *b, __u32 len, __u8 protocol)
{
	if (protocol == IPPROTO_TCP) {
		if (b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04)
			return CORDON_ENC_TLS;
		if (starts4(b, 'S', 'S', 'H', '-'))
			return CORDON_ENC_SSH;
		if (b[0] == 0x10 && len >= 8) {
			/* remaining length takes 1 or 2 bytes */
			int o = (b[1] & 0x80) ? 3 : 2;

			if (o == 2 && b[2] == 0 && (b[3] == 4 || b[3] == 6) &&
			    b[4] == 'M' && b[5] == 'Q')
				return CORDON_ENC_MQTT;
			if (o == 3 && b[3] == 0 && (b[4] == 4 || b[4] == 6) &&
			    b[5] == 'M' && b[6] == 'Q')
				return CORDON_ENC_MQTT;
		}
		if (starts4(b, 'G', 'E', 'T', ' ') || starts4(b, 'P', 'O', 'S', 'T') ||
		    starts4(b, 'P', 'U', 'T', ' ') || starts4(b, 'H', 'E', 'A', 'D') ||
		    starts4(b, 'D', 'E', 'L', 'E') || starts4(b, 'O', 'P', 'T', 'I') ||
		    starts4(b, 'P', 'A', 'T', 'C') || starts4(b, 'C', 'O', 'N', 'N') ||
		    starts4(b, 'H', 'T', 'T', 'P'))
			return CORDON_ENC_HTTP;
		return CORDON_ENC_PLAINTEXT;
	}
	if (protocol == IPPROTO_UDP) {
		if (b[0] == 0x16 && b[1] == 0xfe)
			return CORDON_ENC_DTLS;
		if ((b[0] & 0xc0) == 0xc0 && len >= 5 &&
		    (b[1] | b[2] | b[3] | b[4]) != 0)
			return CORDON_ENC_QUIC;
		if ((b[0] >> 6) == 1 && (b[0] & 0x0f) <= 8) {
			__u8 class = b[1] >> 5;

			if ((class == 0 && b[1] >= 1 && b[1] <= 7) || class == 2 ||
			    class == 4 || class == 5)
				return CORDON_ENC_COAP;
		}
		return CORDON_ENC_PLAINTEXT;
	}
	return CORDON_ENC_PENDING;
}

/* The class of this packet's payload, or PENDING when it has none. */
static __always_inline __u8 classify(struct __sk_buff *skb,
				     const struct cordon_pkt *p)
{
	__u8 b[CLASSIFY_BYTES] = {};
	__u32 n = p->payload_len;

	if (!classify_payload || !n)
		return CORDON_ENC_PENDING;
	if (p->protocol != IPPROTO_TCP && p->protocol != IPPROTO_UDP)
		return CORDON_ENC_PENDING;
	if (n >= CLASSIFY_BYTES) {
		if (bpf_skb_load_bytes(skb, p->payload_off, b, CLASSIFY_BYTES) < 0)
			return CORDON_ENC_PENDING;
	} else if (n >= 4) {
		if (bpf_skb_load_bytes(skb, p->payload_off, b, 4) < 0)
			return CORDON_ENC_PENDING;
	} else {
		/* 1-3 bytes: too short for any handshake */
		return CORDON_ENC_PLAINTEXT;
	}
	return classify_bytes(b, n, p->protocol);
}

/*
 * A TLS record header `off` bytes into this TCP payload: content type 20-24
 * (change cipher spec, alert, handshake, application data, heartbeat),
 * version 3.x; *len is the record's length after its 5-byte header.
 */
static __always_inline int tls_record_at(struct __sk_buff *skb,
					 const struct cordon_pkt *p, __u32 off,
					 __u32 *len)
{
	__u8 h[5];

	if (off + 5 > p->payload_len ||
	    bpf_skb_load_bytes(skb, p->payload_off + off, h, 5) < 0)
		return 0;
	if (h[0] < 0x14 || h[0] > 0x18 || h[1] != 0x03 || h[2] > 0x04)
		return 0;
	*len = ((__u32)h[3] << 8) | h[4];
	return 1;
}

static __always_inline int is_plaintext(__u8 enc)
{
	return enc >= CORDON_ENC_FIRST_PLAINTEXT;
}

#endif
