// SPDX-License-Identifier: Apache-2.0
/**
 * The order of ipcache entries in a bundle: by address in the datapath's one
 * 128-bit space (IPv4 as ::ffff:a.b.c.d), then by prefix length there (an IPv4
 * /n is /(96 + n)). The compiler emits this order; applyDelta restores it.
 */
import { isIPv4 } from 'node:net';
import type { IpcacheEntry } from '../../native/lib/abi';
import { addressBytes } from '../../native/lib/encode';

/** (hex of the 16 address bytes, prefix length in the 128-bit space): compares as the datapath's key. */
export function orderKey(cidr: string): { addr: string; len: number } {
  const [a, l] = cidr.split('/');
  const v4 = isIPv4(a);
  const n = l === undefined ? (v4 ? 32 : 128) : Number(l);
  return { addr: addressBytes(a).toString('hex'), len: v4 ? n + 96 : n };
}

/** Compares two orderKeys. */
export const compareOrderKeys = (x: { addr: string; len: number }, y: { addr: string; len: number }) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : x.len - y.len);

export function sortIpcache(entries: IpcacheEntry[]): IpcacheEntry[] {
  return entries
    .map((e) => ({ e, k: orderKey(e.cidr) }))
    .sort((x, y) => compareOrderKeys(x.k, y.k))
    .map((x) => x.e);
}
