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
import { readU64 } from '../../../native/lib/decode';

const WORDS = FLOW_ENTRY.IDENTITY_END / 4;
const MIN_CAP = 1024;
/** Per flow, with pair figures on: packets and bytes of its pair figure, its epoch, src << 8 | verdict, dst << 8 | reason. */
const PAIR = 5;

/**
 * A connection's pair increments since the previous poll (cordon.h
 * "counters"): [packets, bytes] for its pair now, and [packets, bytes, src <<
 * 8 | verdict, dst << 8 | reason] for the pair of the decision an epoch
 * change replaced since (the packets judged under it after the previous poll).
 */
export type PairIncrements = Float64Array;
export const PAIR_INCREMENTS = 6;

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
  /** With pair figures (the live table): PAIR numbers a slot, else none. */
  private pairs: Float64Array;
  /** The slot of the flow seen() last. */
  private last = -1;
  /** The poll that last saw each slot; 0: empty. */
  private marks = new Uint32Array(MIN_CAP);
  private count = 0;
  private epoch = 1;
  private readonly scratch = new Uint32Array(WORDS);

  /** pairFigures: remember what pairIncrements() needs (the connection table's entries carry pair figures). */
  constructor(private readonly pairFigures = false) {
    this.pairs = new Float64Array(pairFigures ? MIN_CAP * PAIR : 0);
  }

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
    this.last = slot;
    return fresh;
  }

  /**
   * After seen() of the entry at o of buf (fresh: what it returned), with pair
   * figures on: writes the entry's pair increments since the previous poll
   * into out (PairIncrements). Its pair figure is packets - paired_packets;
   * the part from decided_packets on is its decision's; when the epoch moved,
   * the part before is the replaced decision's (exact unless two epochs
   * passed between polls: then the middle one's packets go to the older).
   * A fresh entry counts whole, under its decision.
   */
  pairIncrements(buf: Buffer, o: number, fresh: boolean, out: PairIncrements): void {
    const P = this.pairs;
    const b = this.last * PAIR;
    const fp = readU64(buf, o + FLOW_ENTRY.PACKETS_FWD) + readU64(buf, o + FLOW_ENTRY.PACKETS_REV) - readU64(buf, o + FLOW_ENTRY.PAIRED_PACKETS);
    const fb = readU64(buf, o + FLOW_ENTRY.BYTES_FWD) + readU64(buf, o + FLOW_ENTRY.BYTES_REV) - readU64(buf, o + FLOW_ENTRY.PAIRED_BYTES);
    const epoch = readU64(buf, o + FLOW_ENTRY.EPOCH);
    out.fill(0);
    if (fresh) {
      out[0] = fp;
      out[1] = fb;
    } else if (epoch === P[b + 2]) {
      out[0] = Math.max(0, fp - P[b]);
      out[1] = Math.max(0, fb - P[b + 1]);
    } else {
      const dp = readU64(buf, o + FLOW_ENTRY.DECIDED_PACKETS);
      const db = readU64(buf, o + FLOW_ENTRY.DECIDED_BYTES);
      out[0] = Math.max(0, fp - dp);
      out[1] = Math.max(0, fb - db);
      out[2] = Math.max(0, dp - P[b]);
      out[3] = Math.max(0, db - P[b + 1]);
      out[4] = P[b + 3];
      out[5] = P[b + 4];
    }
    P[b] = fp;
    P[b + 1] = fb;
    P[b + 2] = epoch;
    P[b + 3] = buf.readUInt32LE(o + FLOW_ENTRY.SRC_IDENTITY) * 256 + buf[o + FLOW_ENTRY.VERDICT];
    P[b + 4] = buf.readUInt32LE(o + FLOW_ENTRY.DST_IDENTITY) * 256 + buf[o + FLOW_ENTRY.REASON];
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
      if (this.pairFigures) this.pairs.copyWithin(i * PAIR, j * PAIR, j * PAIR + PAIR);
      this.marks[i] = this.marks[j];
      i = j;
    }
  }

  private resize(cap: number): void {
    const { keys, counters, marks, pairs } = this;
    const old = this.cap;
    this.cap = cap;
    this.keys = new Uint32Array(cap * WORDS);
    this.counters = new Float64Array(cap * 4);
    this.pairs = new Float64Array(this.pairFigures ? cap * PAIR : 0);
    this.marks = new Uint32Array(cap);
    for (let s = 0; s < old; s++) {
      if (marks[s] === 0) continue;
      const k = keys.subarray(s * WORDS, s * WORDS + WORDS);
      const d = ~this.find(k);
      this.keys.set(k, d * WORDS);
      this.counters.set(counters.subarray(s * 4, s * 4 + 4), d * 4);
      if (this.pairFigures) this.pairs.set(pairs.subarray(s * PAIR, s * PAIR + PAIR), d * PAIR);
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
