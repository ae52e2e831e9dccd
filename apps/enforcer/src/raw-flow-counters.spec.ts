// SPDX-License-Identifier: Apache-2.0
import { RawFlowCounters } from './raw-flow-counters';

/** A 48-byte identity made from a number (the rest of the entry is not read). */
const entry = (id: number) => {
  const b = Buffer.alloc(136);
  b.writeUInt32LE(id, 12);
  b.writeUInt32LE(id % 7, 44);
  return b;
};

describe('RawFlowCounters', () => {
  it('agrees with a Map under random arrivals, updates and expiries, through growth and shrinking', () => {
    const t = new RawFlowCounters();
    const ref = new Map<number, number>();
    const inc = new Float64Array(4);
    let seed = 42;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 40; round++) {
      t.begin();
      const next = new Map<number, number>();
      // Storm in the middle rounds, a handful of flows at the end: the table grows and shrinks.
      const live = round < 10 ? 500 : round < 25 ? 20_000 : 50;
      for (const [id, c] of ref) if (rnd(10) < 8 && next.size < live) next.set(id, c + rnd(3));
      while (next.size < live) next.set(rnd(1 << 30), 1 + rnd(5));
      for (const [id, c] of next) {
        const fresh = t.seen(entry(id), 0, c, c * 60, 0, 0, inc);
        if (fresh !== !ref.has(id)) throw new Error(`round ${round} flow ${id}: fresh ${fresh}`);
        const want = ref.has(id) ? c - ref.get(id)! : c;
        if (inc[0] !== want) throw new Error(`round ${round} flow ${id}: increment ${inc[0]}, want ${want}`);
      }
      t.sweep();
      expect(t.size).toBe(next.size);
      ref.clear();
      for (const [k, v] of next) ref.set(k, v);
    }
    expect(t['cap']).toBeLessThanOrEqual(4096);
  });

  it('counts a re-created entry (counters lower than before) whole', () => {
    const t = new RawFlowCounters();
    const inc = new Float64Array(4);
    t.begin();
    t.seen(entry(1), 0, 10, 600, 2, 100, inc);
    t.sweep();
    t.begin();
    expect(t.seen(entry(1), 0, 3, 180, 2, 150, inc)).toBe(false);
    expect([...inc]).toEqual([3, 180, 0, 50]);
  });
});
