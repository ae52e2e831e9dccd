/**
 * Write-behind: state kept in memory and flushed to the store every
 * `intervalMs` (and once more at stop()), one flush at a time — a flush asked
 * for while one runs waits for it (one at most). A failed flush is only logged: the caller
 * keeps what it could not write and sends it with the next one. durable()
 * says when what was fed so far is in the store (the flow stream acknowledges
 * a batch only then, control/derived-state.ts).
 */
export class WriteBehind {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  /** A flush asked for, not started yet. */
  private waiting: Promise<void> | null = null;
  private stopped = false;
  /** Flushes started so far; a flush snapshots its state after it is counted. */
  private started = 0;
  /** The promise of durable() for the next flush to start, shared by every caller until it starts. */
  private next: { flush: number; promise: Promise<void>; resolve: () => void } | null = null;
  /** durable() promises of flushes started, oldest first, until one of them or a later one succeeds. */
  private unsettled: Array<{ flush: number; resolve: () => void }> = [];

  constructor(
    private readonly flushOnce: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): void {
    if (this.stopped || this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref?.();
  }

  /**
   * Resolves once a flush started now (after any running one) is done. One
   * already waiting for the running one is that flush: it takes what changed
   * until it starts, so a flush slower than the interval (a worst-case load)
   * makes them run back to back, never a growing queue of them.
   */
  flush(): Promise<void> {
    if (this.waiting) return this.waiting;
    const run = this.running
      .then(async () => {
        this.waiting = null;
        const n = ++this.started;
        if (this.next) {
          this.unsettled.push(this.next);
          this.next = null;
        }
        await this.flushOnce();
        while (this.unsettled.length > 0 && this.unsettled[0].flush <= n) this.unsettled.shift()!.resolve();
      })
      .catch((err: Error) => this.onError(err));
    this.running = this.waiting = run;
    return run;
  }

  /**
   * Resolves once a flush that started after this call has succeeded: what
   * the caller fed before it is in the store. A failed flush leaves it waiting
   * for the next (which writes what the failed one kept). Never resolves once
   * stopped (the last flush is stop()'s).
   */
  durable(): Promise<void> {
    if (!this.next) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.next = { flush: this.started + 1, promise, resolve };
    }
    return this.next.promise;
  }

  /** The last flush; no more after it. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.stopped) return this.running;
    this.stopped = true;
    await this.flush();
  }
}

/** How often the monitoring state (unknown devices, plaintext tallies) is flushed to the store. */
export const STATE_FLUSH_MS = 2000;
/**
 * A pull reads the rows changed since the last one's start less this: a row's
 * updated_at is its writer's transaction start, and that transaction may commit
 * after a pull that started later, so some overlap (far over a flush's
 * duration) keeps such a row from being missed. Rows read twice merge the same.
 */
export const STATE_PULL_OVERLAP_MS = 30_000;
