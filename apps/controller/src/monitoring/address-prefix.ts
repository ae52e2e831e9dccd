// SPDX-License-Identifier: Apache-2.0
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
