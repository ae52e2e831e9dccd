// SPDX-License-Identifier: Apache-2.0
/**
 * Who claims an ipcache key, in the order that decides its owner (by name,
 * then by index in the claimant's list), and a longest-prefix index over the
 * segment CIDRs their owners hold.
 */
import { MASKS, type Prefix } from '../policy/net';

export interface Claim {
  name: string;
  /** Index in the segment's cidrs or the device's addresses. */
  idx: number;
  prefix: Prefix;
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const cmpClaim = (a: Claim, b: Claim) => cmpStr(a.name, b.name) || a.idx - b.idx;

/** A label (key, value) as one map key. */
export function labelKey(k: string, v: string): string {
  return `${k}\u0000${v}`;
}

/** Longest-prefix index over owned segment CIDRs, with removal. */
export class Lpm {
  private readonly byLen = new Map<number, Map<bigint, string>>();
  private lens: number[] = [];

  set(p: Prefix, owner: string | undefined) {
    let m = this.byLen.get(p.len);
    if (owner === undefined) {
      m?.delete(p.value);
      return;
    }
    if (!m) {
      this.byLen.set(p.len, (m = new Map()));
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
    m.set(p.value, owner);
  }

  lookup(value: bigint): string | undefined {
    for (const len of this.lens) {
      const hit = this.byLen.get(len)!.get(value & MASKS[len]);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

/** Adds a claim on `key`, keeping the claims in owner order. */
export function addClaim(map: Map<string, Claim[]>, key: string, c: Claim) {
  const list = map.get(key);
  if (!list) {
    map.set(key, [c]);
    return;
  }
  let i = list.length;
  while (i > 0 && cmpClaim(list[i - 1], c) > 0) i--;
  list.splice(i, 0, c);
}

export function removeClaim(map: Map<string, Claim[]>, key: string, name: string, idx: number) {
  const list = map.get(key);
  if (!list) return;
  const i = list.findIndex((c) => c.name === name && c.idx === idx);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}
