/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Learned addresses (cordon.h "fqdn"): written by the enforcer's DNS proxy
 * before it releases the answer, read when a new flow (or a tracked one
 * under a new epoch) is judged.
 */
#ifndef CORDON_LIB_FQDN_H
#define CORDON_LIB_FQDN_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CORDON_MAX_FQDN);
	__type(key, struct cordon_host_key);
	__type(value, struct cordon_fqdn_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cordon_fqdn SEC(".maps");

#endif
