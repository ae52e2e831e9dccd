import fc from 'fast-check';
import { blockContains, icmpTypeBlocks, icmpValue, portBlocks, rangeToBlocks } from './ports';

/** Every port 0..65535 covered by the blocks, and how often (to catch overlaps). */
function coverage(blocks: { value: number; prefixLen: number }[]): Uint8Array {
  const hits = new Uint8Array(65536);
  for (const b of blocks) {
    const size = 2 ** (16 - b.prefixLen);
    if (b.value % size !== 0) throw new Error(`block ${b.value}/${b.prefixLen} is not aligned`);
    for (let p = b.value; p < b.value + size; p++) hits[p]++;
  }
  return hits;
}

/**
 * The optimal number of blocks, found independently of the greedy split: walk
 * the binary trie of the 16-bit space; a node wholly inside the range is one
 * block, a node partly inside splits into its two halves.
 */
function trieMinimal(lo: number, hi: number, start = 0, size = 65536): number {
  const end = start + size - 1;
  if (end < lo || start > hi) return 0;
  if (start >= lo && end <= hi) return 1;
  return trieMinimal(lo, hi, start, size / 2) + trieMinimal(lo, hi, start + size / 2, size / 2);
}

describe('rangeToBlocks', () => {
  it('covers exactly the range, without overlap, with aligned blocks (random ranges, every port checked)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (x, y) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        const blocks = rangeToBlocks(lo, hi);
        const hits = coverage(blocks);
        for (let p = 0; p < 65536; p++) if (hits[p] !== (p >= lo && p <= hi ? 1 : 0)) return false;
        return blocks.length === trieMinimal(lo, hi) && blocks.length <= 30;
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with blockContains for every port of a few fixed ranges', () => {
    for (const [lo, hi] of [[0, 65535], [0, 0], [65535, 65535], [1, 65534], [1024, 65535], [5683, 5684], [8883, 8883], [80, 443]] as const) {
      const blocks = rangeToBlocks(lo, hi);
      const wrong: number[] = [];
      for (let p = 0; p < 65536; p++) if (blocks.some((b) => blockContains(b, p)) !== (p >= lo && p <= hi)) wrong.push(p);
      expect(wrong).toEqual([]);
    }
  });

  it('gives known splits', () => {
    expect(rangeToBlocks(0, 65535)).toEqual([{ value: 0, prefixLen: 0 }]);
    expect(rangeToBlocks(8883, 8883)).toEqual([{ value: 8883, prefixLen: 16 }]);
    expect(rangeToBlocks(5683, 5684)).toEqual([{ value: 5683, prefixLen: 16 }, { value: 5684, prefixLen: 16 }]);
    expect(rangeToBlocks(1024, 2047)).toEqual([{ value: 1024, prefixLen: 6 }]);
    expect(rangeToBlocks(1, 65534)).toHaveLength(30);
    expect(() => rangeToBlocks(10, 9)).toThrow(RangeError);
  });

  it('portBlocks: the union of overlapping ranges, each port once', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2000 })), { minLength: 1, maxLength: 5 }), (rs) => {
        const ranges = rs.map(([a, len]) => [a, Math.min(65535, a + len)] as [number, number]);
        const hits = coverage(portBlocks(ranges));
        for (let p = 0; p < 65536; p++) {
          const want = ranges.some(([a, b]) => p >= a && p <= b) ? 1 : 0;
          if (hits[p] !== want) return false;
        }
        return true;
      }),
      { numRuns: 100 },
    );
  });
});

describe('ICMP blocks', () => {
  it('a type is a /8 block over type << 8 | code; runs of types merge', () => {
    expect(icmpTypeBlocks([8])).toEqual([{ value: 8 << 8, prefixLen: 8 }]);
    expect(icmpTypeBlocks([128, 129])).toEqual([{ value: 128 << 8, prefixLen: 7 }]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 10 }), (types) => {
        const blocks = icmpTypeBlocks(types);
        for (let t = 0; t < 256; t++) {
          for (const code of [0, 1, 255]) {
            const n = blocks.filter((b) => blockContains(b, icmpValue(t, code))).length;
            if (n !== (types.includes(t) ? 1 : 0)) return false;
          }
        }
        return true;
      }),
    );
  });
});
