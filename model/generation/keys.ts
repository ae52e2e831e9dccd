// SPDX-License-Identifier: Apache-2.0
/**
 * Policy keys inside one identity pair, as one number:
 * ((plen - 64) * 256 + proto) * 65536 + port, where plen is 64 (any protocol),
 * 72 (protocol, every port) or 80 + n (the first n bits of the 16-bit port;
 * ICMP: type << 8 | code). These are the datapath's policy keys minus the pair.
 */
import type { PolicyEntry } from '../../native/lib/abi';
import type { PolicyKeyRef } from './bundle';

export function innerKey(plen: number, proto: number, port: number): number {
  return ((plen - 64) * 256 + proto) * 65536 + port;
}

export function portMask(n: number): number {
  return n === 0 ? 0 : (0xffff << (16 - n)) & 0xffff;
}

/** Inner key of a PolicyEntry (normalised: port prefix 0 means every port). */
export function entryInnerKey(e: Pick<PolicyEntry, 'protocol' | 'port' | 'portPrefixLen'>): number {
  if (e.protocol === null) return 0;
  const n = e.portPrefixLen ?? 0;
  if (n === 0) return innerKey(72, e.protocol, 0);
  return innerKey(80 + n, e.protocol, (e.port ?? 0) & portMask(n));
}

export function decodeInnerKey(k: number): { plen: number; proto: number; port: number } {
  const port = k % 65536;
  const rest = (k - port) / 65536;
  return { plen: 64 + Math.floor(rest / 256), proto: rest % 256, port };
}

/** Order of entries inside a pair: any-protocol first, then by protocol, prefix length and port. */
export function compareInnerKeys(a: number, b: number): number {
  return protoOf(a) - protoOf(b) || a - b;
}

function protoOf(k: number): number {
  return k === 0 ? -1 : Math.floor(k / 65536) % 256;
}

/** The whole key of a policy entry as text: pair and inner key. */
export function policyKey(e: PolicyKeyRef): string {
  return `${e.srcIdentity}/${e.dstIdentity}/${entryInnerKey(e)}`;
}

/** The key fields of a policy entry, normalised (port masked, omitted when every port). */
export function policyKeyRef(e: PolicyKeyRef): PolicyKeyRef {
  const ref: PolicyKeyRef = { srcIdentity: e.srcIdentity, dstIdentity: e.dstIdentity, protocol: e.protocol };
  if (e.protocol !== null && e.portPrefixLen) {
    ref.port = (e.port ?? 0) & portMask(e.portPrefixLen);
    ref.portPrefixLen = e.portPrefixLen;
  }
  return ref;
}

/** Bundle order of policy entries: by pair, then inner key. */
export function comparePolicy(a: PolicyEntry, b: PolicyEntry): number {
  return a.srcIdentity - b.srcIdentity || a.dstIdentity - b.dstIdentity || compareInnerKeys(entryInnerKey(a), entryInnerKey(b));
}
