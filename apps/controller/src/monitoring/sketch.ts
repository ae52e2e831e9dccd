// SPDX-License-Identifier: Apache-2.0
/**
 * Fixed-size structures for per-device state, so memory per device is bounded
 * whatever the traffic: a capped open-addressing set of 32-bit hashes and a
 * ring of recent per-interval values with median / MAD.
 */

/** FNV-1a over a string; never 0 (0 marks an empty slot). */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h >>>= 0;
  return h === 0 ? 1 : h;
}

/** Mixes a number into a hash (for ports and protocols, without building strings). */
export function mix32(h: number, n: number): number {
  h ^= n & 0xffff;
  h = Math.imul(h, 0x01000193);
  h ^= n >>> 16;
  h = Math.imul(h, 0x01000193) >>> 0;
  return h === 0 ? 1 : h;
}

/**
 * A set of at most `capacity` 32-bit hashes (capacity a power of two; filled to
 * 3/4). Once full it refuses new members and says so: callers treat a full
 * set as "too diverse to judge novelty", never as "everything is new".
 */
export class CappedHashSet {
  private slots: Uint32Array;
  size = 0;
  constructor(readonly capacity: number) {
    this.slots = new Uint32Array(capacity);
  }
  get full(): boolean {
    return this.size >= (this.capacity * 3) >> 2;
  }
  has(h: number): boolean {
    const mask = this.capacity - 1;
    for (let i = h & mask, n = 0; n < this.capacity; i = (i + 1) & mask, n++) {
      const v = this.slots[i];
      if (v === 0) return false;
      if (v === h) return true;
    }
    return false;
  }
  /** true when added, false when present or the set is full. */
  add(h: number): boolean {
    const mask = this.capacity - 1;
    let i = h & mask;
    for (let n = 0; n < this.capacity; i = (i + 1) & mask, n++) {
      const v = this.slots[i];
      if (v === h) return false;
      if (v === 0) break;
    }
    if (this.full) return false;
    this.slots[i] = h;
    this.size++;
    return true;
  }
  clear(): void {
    if (this.size) this.slots.fill(0);
    this.size = 0;
  }
  get bytes(): number {
    return this.slots.byteLength;
  }
}

/** Shared by every window: stats() is synchronous, so one scratch buffer serves all devices. */
const SCRATCH = new Float32Array(256);

/** The last `n` values (per-minute volume), with a robust centre and spread. */
export class RobustWindow {
  private readonly values: Float32Array;
  count = 0;
  private next = 0;
  /** EWMA of the values, for display and trend (alpha 0.1). */
  ewma = 0;
  constructor(n: number) {
    if (n > SCRATCH.length) throw new Error(`RobustWindow holds at most ${SCRATCH.length} values`);
    this.values = new Float32Array(n);
  }
  push(v: number): void {
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
    this.ewma = this.count === 1 ? v : this.ewma + 0.1 * (v - this.ewma);
  }
  /** Median and median absolute deviation of what is held. */
  stats(): { median: number; mad: number } {
    const n = this.count;
    if (n === 0) return { median: 0, mad: 0 };
    const s = SCRATCH.subarray(0, n);
    s.set(this.values.subarray(0, n));
    s.sort();
    const median = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
    for (let i = 0; i < n; i++) s[i] = Math.abs(s[i] - median);
    s.sort();
    const mad = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
    return { median, mad };
  }
  get bytes(): number {
    return this.values.byteLength;
  }
}

/**
 * A set of at most 3/4 of `capacity` 32-bit hashes (capacity a power of two),
 * each with a saturating use count. When it is full, adding evicts the least
 * used member (ties: the first found), so a set an attacker floods keeps what
 * the device uses most instead of freezing: it never stops learning.
 * Deletion shifts the probe chain back (no tombstones).
 */
export class UsageSet {
  /** key at 2i, use count (low byte) and aux (second byte) at 2i+1: one array, one object. */
  private readonly slots: Uint32Array;
  size = 0;
  evictions = 0;
  constructor(readonly capacity: number) {
    this.slots = new Uint32Array(capacity * 2);
  }
  get limit(): number {
    return (this.capacity * 3) >> 2;
  }
  /** The slot of `h`, or -1. */
  find(h: number): number {
    const mask = this.capacity - 1;
    for (let i = h & mask, n = 0; n < this.capacity; i = (i + 1) & mask, n++) {
      const v = this.slots[i * 2];
      if (v === 0) return -1;
      if (v === h) return i;
    }
    return -1;
  }
  has(h: number): boolean {
    return this.find(h) >= 0;
  }
  uses(slot: number): number {
    return this.slots[slot * 2 + 1] & 0xff;
  }
  aux(slot: number): number {
    return (this.slots[slot * 2 + 1] >> 8) & 0xff;
  }
  bumpAux(slot: number): void {
    if (this.aux(slot) < 255) this.slots[slot * 2 + 1] += 0x100;
  }
  /** Counts one use of a member. */
  touch(slot: number): void {
    if (this.uses(slot) < 255) this.slots[slot * 2 + 1]++;
  }
  /** Adds `h` (evicting the least used member when full); returns its slot. */
  add(h: number): number {
    const at = this.find(h);
    if (at >= 0) return at;
    if (this.size >= this.limit) this.evictLeastUsed();
    const mask = this.capacity - 1;
    let i = h & mask;
    while (this.slots[i * 2] !== 0) i = (i + 1) & mask;
    this.slots[i * 2] = h;
    this.slots[i * 2 + 1] = 1;
    this.size++;
    return i;
  }
  delete(h: number): boolean {
    const slot = this.find(h);
    if (slot < 0) return false;
    this.removeSlot(slot);
    return true;
  }
  private evictLeastUsed(): void {
    let best = -1;
    for (let i = 0; i < this.capacity; i++) if (this.slots[i * 2] !== 0 && (best < 0 || this.uses(i) < this.uses(best))) best = i;
    if (best < 0) return;
    this.removeSlot(best);
    this.evictions++;
    // Every `capacity` evictions, age the counts, so members used long ago give way to members used lately.
    if (this.evictions % this.capacity === 0) for (let i = 0; i < this.capacity; i++) this.slots[i * 2 + 1] = (this.slots[i * 2 + 1] & ~0xff) | ((this.slots[i * 2 + 1] & 0xff) >> 1);
  }
  private removeSlot(slot: number): void {
    const mask = this.capacity - 1;
    this.slots[slot * 2] = 0;
    this.slots[slot * 2 + 1] = 0;
    this.size--;
    // Backward-shift: re-place the rest of the probe chain.
    let i = (slot + 1) & mask;
    while (this.slots[i * 2] !== 0) {
      const k = this.slots[i * 2];
      const meta = this.slots[i * 2 + 1];
      this.slots[i * 2] = 0;
      this.slots[i * 2 + 1] = 0;
      let j = k & mask;
      while (this.slots[j * 2] !== 0) j = (j + 1) & mask;
      this.slots[j * 2] = k;
      this.slots[j * 2 + 1] = meta;
      i = (i + 1) & mask;
    }
  }
  clear(): void {
    this.slots.fill(0);
    this.size = 0;
  }
  get bytes(): number {
    return this.slots.byteLength;
  }
}

/**
 * The q-quantile (0..1) and the median of `n` values of `src` starting at
 * `from`, with the median absolute deviation; synchronous, on the shared scratch.
 */
export function robustStats(src: Float32Array, from: number, n: number, q: number): { median: number; mad: number; quantile: number; max: number } {
  if (n <= 0) return { median: 0, mad: 0, quantile: 0, max: 0 };
  const s = SCRATCH.subarray(0, n);
  s.set(src.subarray(from, from + n));
  s.sort();
  const median = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const quantile = s[Math.min(n - 1, Math.floor(q * (n - 1) + 0.5))];
  const max = s[n - 1];
  for (let i = 0; i < n; i++) s[i] = Math.abs(s[i] - median);
  s.sort();
  const mad = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, mad, quantile, max };
}
