/**
 * Port ranges as prefix blocks. The policy map is an LPM trie over the 16-bit
 * port (ICMP: type << 8 | code), so a range has to become the smallest set of
 * aligned power-of-two blocks that covers exactly it.
 */

export interface PortBlock {
  /** First value of the block (its low 16 - prefixLen bits are zero). */
  value: number;
  /** Leading bits of the 16 that must match: 16 = one port, 0 = every port. */
  prefixLen: number;
}

/**
 * Minimal blocks covering [lo, hi] exactly, over `bits` bits (16 for ports, 8
 * for ICMP types). Greedy from the low end: at each step take the largest
 * block aligned at `lo` that still fits; this is the classic optimal split.
 */
export function rangeToBlocks(lo: number, hi: number, bits = 16): PortBlock[] {
  const max = 2 ** bits - 1;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > max || lo > hi) {
    throw new RangeError(`bad range ${lo}-${hi} over ${bits} bits`);
  }
  const out: PortBlock[] = [];
  let a = lo;
  while (a <= hi) {
    // Largest power of two dividing a (a = 0 is aligned to everything).
    let size = a === 0 ? 2 ** bits : a & -a;
    while (a + size - 1 > hi) size /= 2;
    out.push({ value: a, prefixLen: bits - Math.log2(size) });
    a += size;
  }
  return out;
}

/** Sorts and merges overlapping or adjacent ranges. */
export function mergeRanges(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = [...ranges].map(([a, b]) => [a, b] as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** Minimal 16-bit blocks for the union of port ranges. */
export function portBlocks(ranges: readonly (readonly [number, number])[]): PortBlock[] {
  return mergeRanges(ranges).flatMap(([a, b]) => rangeToBlocks(a, b, 16));
}

/**
 * Blocks for a set of ICMP types, every code: a type is the top 8 bits of the
 * port field, so one type is a /8 block, and runs of types merge into shorter ones.
 */
export function icmpTypeBlocks(types: readonly number[]): PortBlock[] {
  return mergeRanges(types.map((t) => [t, t] as const)).flatMap(([a, b]) =>
    rangeToBlocks(a, b, 8).map((blk) => ({ value: blk.value << 8, prefixLen: blk.prefixLen })),
  );
}

/** One ICMP type and code: a single /16 value. */
export function icmpValue(type: number, code = 0): number {
  return ((type & 0xff) << 8) | (code & 0xff);
}

/** True when `port` lies in the block. */
export function blockContains(b: PortBlock, port: number): boolean {
  const shift = 16 - b.prefixLen;
  return b.prefixLen === 0 || port >>> shift === b.value >>> shift;
}
