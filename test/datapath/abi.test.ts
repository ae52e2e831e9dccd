// SPDX-License-Identifier: Apache-2.0
/** The TypeScript mirror of bpf/cordon.h agrees with the compiled header's sizes. */
import { IPC_FLAG, LIMITS, REASON, SIZE, STATE_FLAG } from '../../native/lib/abi';
import { binding } from '../../native/lib/binding';

test('abi_1_struct_sizes_match_the_c_header', () => {
  const c = binding().abiSizes;
  expect({
    ipcacheKey: SIZE.IPCACHE_KEY,
    ipcacheValue: SIZE.IPCACHE_VALUE,
    hostKey: SIZE.HOST_KEY,
    policyKey: SIZE.POLICY_KEY,
    policyValue: SIZE.POLICY_VALUE,
    policyMaskKey: SIZE.POLICY_MASK_KEY,
    policyMask: SIZE.POLICY_MASK,
    flowKey: SIZE.FLOW_KEY,
    flowValue: SIZE.FLOW_VALUE,
    pairKey: SIZE.PAIR_KEY,
    counter: SIZE.COUNTER,
    event: SIZE.EVENT,
    state: SIZE.STATE,
    budgetKey: SIZE.BUDGET_KEY,
    budgetValue: SIZE.BUDGET_VALUE,
    fqdnValue: SIZE.FQDN_VALUE,
    dnsConfig: SIZE.DNS_CONFIG,
  }).toEqual(c);
});

test('abi_2_codes_and_flags_match_the_c_header', () => {
  expect({
    reasonFlowBudget: REASON.FLOW_BUDGET,
    reasonPlaintext: REASON.PLAINTEXT,
    stateFlagAuditAll: STATE_FLAG.AUDIT_ALL,
    stateFlagLinkLocalDrop: STATE_FLAG.LINK_LOCAL_DROP,
    ipcFlagAudit: IPC_FLAG.AUDIT,
    ipcFlagMac: IPC_FLAG.MAC,
    ipcFlagRouter: IPC_FLAG.ROUTER,
    maxBudgets: LIMITS.BUDGETS,
  }).toEqual(binding().abiConstants);
});
