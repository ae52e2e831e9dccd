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
