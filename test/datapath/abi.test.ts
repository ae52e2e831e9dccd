// SPDX-License-Identifier: Apache-2.0
/** The TypeScript mirror of bpf/cordon.h agrees with the compiled header's sizes. */
import { SIZE } from '../../native/lib/abi';
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
  }).toEqual(c);
});
