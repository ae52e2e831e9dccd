/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which generation is live. The epoch is one 64-bit word, read once per
 * packet: slot = epoch & 1 picks the ipcache and policy tries of that packet,
 * so no packet is judged by a mix of two generations.
 */
#ifndef CORDON_LIB_STATE_H
#define CORDON_LIB_STATE_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cordon_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_state SEC(".maps");

#endif
