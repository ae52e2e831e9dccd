// SPDX-License-Identifier: Apache-2.0
/**
 * The counters each flow of a raw flow dump had at the previous poll, in an
 * open-addressing hash table made of typed arrays, keyed by the entry's own
 * bytes (5-tuple and first_seen_ns: FLOW_ENTRY.IDENTITY_END bytes, 12 words).
 *
 * Why not a Map: a Map needs a key object per flow per poll (a 48-byte string:
 * ~6 MB of garbage a poll at 100,000 flows, much of it promoted while the poll
 * runs, which is what kept the enforcer's RSS high), and a Map entry per flow.
 * Here a poll of unchanged flows allocates nothing, and a flow costs
 * (48 + 32 + 4) bytes a slot at a load of at most 1/2: ~22 MB at 100,000.
 *
 * Linear probing; deletion by backward shift (no tombstones), so a table whose
 * flows come and go keeps short probe sequences. Flows not seen since begin()
 * are forgotten by sweep().
 */
import { FLOW_ENTRY } from '../../../native/lib/abi';

const WORDS = FLOW_ENTRY.IDENTITY_END / 4;
const MIN_CAP = 1024;

/**
 * Stores a flow's cumulative counters at counters[o..o+3] and writes the
 * increments since the last poll into inc. A counter lower than before means
 * the entry was evicted and re-created: it counts whole.
 */
export function advanceCounters(counters: Float64Array, o: number, fresh: boolean, pf: number, bf: number, pr: number, br: number, inc: Float64Array): void {
  // Unrolled, no array: this runs for every flow of every poll.
  advanceOne(counters, o, fresh, pf, inc, 0);
  advanceOne(counters, o, fresh, bf, inc, 1);
  advanceOne(counters, o, fresh, pr, inc, 2);
  advanceOne(counters, o, fresh, br, inc, 3);
}

function advanceOne(counters: Float64Array, o: number, fresh: boolean, now: number, inc: Float64Array, i: number): void {
  const before = counters[o + i];
  inc[i] = fresh || now < before ? now : now - before;
  counters[o + i] = now;
}

export class RawFlowCounters {
  private cap = MIN_CAP;
  private keys = new Uint32Array(MIN_CAP * WORDS);
  private counters = new Float64Array(MIN_CAP * 4);
  /** The poll that last saw each slot; 0: empty. */
  private marks = new Uint32Array(MIN_CAP);
  private count = 0;
  private epoch = 1;
  private readonly scratch = new Uint32Array(WORDS);

  get size(): number {
    return this.count;
  }

  /** Starts a poll: every flow not seen() before sweep() is forgotten. */
  begin(): void {
    this.epoch = (this.epoch + 1) >>> 0 || 1;
  }

  /**
   * Records the counters of the entry at byte offset o of buf (its first
   * WORDS*4 bytes are its identity); writes the increments since the previous
   * poll into inc (counters lower than before: a re-created entry, counted
   * whole). Returns true when the flow is new.
   */
  seen(buf: Buffer, o: number, pf: number, bf: number, pr: number, br: number, inc: Float64Array): boolean {
    const k = this.scratch;
    for (let w = 0; w < WORDS; w++) k[w] = buf.readUInt32LE(o + w * 4);
    let slot = this.find(k);
    const fresh = slot < 0;
    if (fresh) {
      if ((this.count + 1) * 2 > this.cap) this.resize(this.cap * 2);
      slot = ~this.find(k);
      this.keys.set(k, slot * WORDS);
      this.count++;
    }
    advanceCounters(this.counters, slot * 4, fresh, pf, bf, pr, br, inc);
    this.marks[slot] = this.epoch;
    return fresh;
  }

  /** Forgets the flows this poll did not see (expired or evicted in the kernel); shrinks after a storm. */
  sweep(): void {
    const marks = this.marks;
    for (let i = 0; i < this.cap; ) {
      if (marks[i] !== 0 && marks[i] !== this.epoch) this.remove(i);
      else i++; // remove() may have shifted an unexamined entry into i: look again
    }
    if (this.cap > MIN_CAP && this.count * 8 < this.cap) this.resize(Math.max(MIN_CAP, this.cap >> 1));
  }

  /** The slot holding key k, or ~(the empty slot where it would go). */
  private find(k: Uint32Array): number {
    const mask = this.cap - 1;
    const keys = this.keys;
    for (let i = hash(k, 0) & mask; ; i = (i + 1) & mask) {
      if (this.marks[i] === 0) return ~i;
      const b = i * WORDS;
      let w = 0;
      while (w < WORDS && keys[b + w] === k[w]) w++;
      if (w === WORDS) return i;
    }
  }

  /** Empties slot i, moving later entries of its probe run back so that none is left unreachable. */
  private remove(i: number): void {
    const mask = this.cap - 1;
    this.count--;
    for (let j = i; ; ) {
      this.marks[i] = 0;
      let home: number;
      do {
        j = (j + 1) & mask;
        if (this.marks[j] === 0) return;
        home = hash(this.keys, j * WORDS) & mask;
        // j stays when its home lies cyclically in (i, j]
      } while (i <= j ? i < home && home <= j : i < home || home <= j);
      this.keys.copyWithin(i * WORDS, j * WORDS, j * WORDS + WORDS);
      this.counters.copyWithin(i * 4, j * 4, j * 4 + 4);
      this.marks[i] = this.marks[j];
      i = j;
    }
  }

  private resize(cap: number): void {
    const { keys, counters, marks } = this;
    const old = this.cap;
    this.cap = cap;
    this.keys = new Uint32Array(cap * WORDS);
    this.counters = new Float64Array(cap * 4);
    this.marks = new Uint32Array(cap);
    for (let s = 0; s < old; s++) {
      if (marks[s] === 0) continue;
      const k = keys.subarray(s * WORDS, s * WORDS + WORDS);
      const d = ~this.find(k);
      this.keys.set(k, d * WORDS);
      this.counters.set(counters.subarray(s * 4, s * 4 + 4), d * 4);
      this.marks[d] = marks[s];
    }
  }
}

/** murmur3's 32-bit mix over the WORDS words of a key at k[base]. */
function hash(k: Uint32Array, base: number): number {
  let h = 0x9747b28c;
  for (let w = 0; w < WORDS; w++) {
    let x = Math.imul(k[base + w], 0xcc9e2d51);
    x = (x << 15) | (x >>> 17);
    h ^= Math.imul(x, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
