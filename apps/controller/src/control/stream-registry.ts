// SPDX-License-Identifier: Apache-2.0
/**
 * Publishes this controller's open bundle streams to the shared store
 * (enforcer-streams.repo.ts), so every controller of the site can say where
 * each enforcer is connected: at once when the set changes (a stream opens,
 * closes, is cut), and every REFRESH_MS while it stays open, which keeps the
 * rows fresher than STREAM_LIVE_WITHIN_S. Writes are serialised and coalesced:
 * a burst of changes costs one write with the newest set.
 */
import type { Logger } from 'pino';
import { EnforcerStreams } from './enforcer-streams.repo';

export const REFRESH_MS = 15_000;

export class StreamRegistry {
  private names: readonly string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly streams: EnforcerStreams,
    /** This controller's id (--id), what `cordon get enforcers` shows under CONNECTED. */
    readonly controller: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), REFRESH_MS);
    this.timer.unref();
    void this.flush();
  }

  /** The enforcers with an open watch here now (Sessions.connected()). */
  update(names: readonly string[]): void {
    this.names = names;
    if (!this.stopped) void this.flush();
  }

  /** Resolves once the newest set is written. */
  flush(): Promise<void> {
    if (this.queued) return this.chain;
    this.queued = true;
    this.chain = this.chain
      .then(async () => {
        this.queued = false;
        if (!this.stopped) await this.streams.sync(this.controller, this.names);
      })
      .catch((err: Error) => this.log.warn({ err: err.message }, 'could not record the open enforcer streams in the store'));
    return this.chain;
  }

  /** Stops refreshing and removes this controller's rows (its streams end with it). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    await this.streams.clear(this.controller).catch((err: Error) => this.log.warn({ err: err.message }, 'could not clear the open enforcer streams in the store'));
  }
}
