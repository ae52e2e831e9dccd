// SPDX-License-Identifier: Apache-2.0
/** The flow collector's queues: bounded, oldest dropped and counted, with a wait for room. */
export class BoundedQueue<T> {
  private items: T[] = [];
  private waiters: Array<{ n: number; done: (ok: boolean) => void }> = [];
  dropped = 0;
  constructor(readonly max: number) {}
  push(x: T): void {
    this.items.push(x);
    while (this.items.length > this.max) {
      this.items.shift();
      this.dropped++;
    }
  }
  peek(): T | undefined {
    return this.items[0];
  }
  shift(): T | undefined {
    const x = this.items.shift();
    this.wake();
    return x;
  }
  /** The oldest item pred accepts. */
  find(pred: (x: T) => boolean): T | undefined {
    return this.items.find(pred);
  }
  /** Removes the oldest items while pred accepts them; returns how many. */
  shiftWhile(pred: (x: T) => boolean): number {
    let n = 0;
    while (n < this.items.length && pred(this.items[n])) n++;
    if (n) {
      this.items.splice(0, n);
      this.wake();
    }
    return n;
  }
  /** Removes and returns up to n items, oldest first. */
  take(n: number): T[] {
    const out = this.items.splice(0, n);
    this.wake();
    return out;
  }
  get length(): number {
    return this.items.length;
  }
  /** Resolves true once fewer than n items are queued, false when timeoutMs passes first. */
  waitBelow(n: number, timeoutMs: number): Promise<boolean> {
    if (this.items.length < n) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        n,
        done: (ok: boolean) => {
          clearTimeout(t);
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(ok);
        },
      };
      const t = setTimeout(() => w.done(false), timeoutMs);
      this.waiters.push(w);
    });
  }
  private wake(): void {
    for (const w of [...this.waiters]) if (this.items.length < w.n) w.done(true);
  }
}
