// SPDX-License-Identifier: Apache-2.0
/** Small helpers of the detector: the prefix a world peer counts by, a bit count. */

/** A world address's prefix as a string key: the first /24 (three octets) or /48 (three groups). */
export function addressPrefix(addr: string, v4: number, v6: number): string {
  if (addr.includes(':')) {
    const groups = Math.ceil(v6 / 16);
    let n = 0;
    for (let i = 0; i < addr.length; i++) {
      if (addr.charCodeAt(i) === 58 /* : */) {
        if (addr.charCodeAt(i + 1) === 58) return addr; // compressed early: the whole address
        if (++n === groups) return addr.slice(0, i);
      }
    }
    return addr;
  }
  const octets = Math.ceil(v4 / 8);
  if (octets >= 4) return addr;
  let n = 0;
  for (let i = 0; i < addr.length; i++) if (addr.charCodeAt(i) === 46 /* . */ && ++n === octets) return addr.slice(0, i);
  return addr;
}

export function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}
