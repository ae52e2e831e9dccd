// SPDX-License-Identifier: Apache-2.0
/**
 * Exponential backoff with equal jitter (AWS architecture blog): half of the
 * capped delay is fixed, half is random, so a retry never comes sooner than
 * half the cap (full jitter would draw the whole delay from 0..cap). Reset
 * after a success.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}
  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 16));
    this.attempt++;
    return Math.floor(cap / 2 + this.random() * (cap / 2));
  }
  reset(): void {
    this.attempt = 0;
  }
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    t.unref(); // the daemon is kept alive by its listeners, not by waits
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
