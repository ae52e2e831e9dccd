import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { BehaviorSubject, distinctUntilChanged, Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { Bundle } from '../compiler/compile';
import type { ControllerConfig } from '../config';
import type { Store } from '../store/store';
import { CONFIG, LOGGER, STORE } from '../di-tokens';

/**
 * The compiled policy bundles and the newest generation, as seen by this controller.
 * Changes come from this controller's own applies, from NOTIFY by other controllers
 * sharing the PostgreSQL database, and from a poll that covers missed notifications.
 */
@Injectable()
export class BundleService implements OnModuleInit, OnModuleDestroy {
  private readonly gen = new BehaviorSubject<number>(0);
  private cache: { generation: number; bundle: Bundle } | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** The newest committed generation; replays the current one on subscribe (0: none yet). */
  readonly generation$: Observable<number> = this.gen.pipe(distinctUntilChanged());

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(CONFIG) private readonly config: ControllerConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit() {
    this.gen.next(await this.store.latestGeneration());
    try {
      this.unlisten = await this.store.notifications.listenGenerations((g) => this.announce(g));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'LISTEN failed; relying on polling for other controllers\' changes');
    }
    this.timer = setInterval(() => void this.poll(), this.config.pollIntervalMs);
    this.timer.unref();
  }

  async onModuleDestroy() {
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.();
    this.gen.complete();
  }

  /** The generation this controller knows is newest. */
  get currentGeneration(): number {
    return this.gen.value;
  }

  /** Called after a local commit and on NOTIFY; never moves backwards. */
  announce(generation: number) {
    if (generation > this.gen.value) this.gen.next(generation);
  }

  async current(): Promise<Bundle | null> {
    const latest = await this.store.latestBundle();
    if (!latest) return null;
    this.announce(latest.generation);
    if (this.cache?.generation !== latest.generation) this.cache = { generation: latest.generation, bundle: latest.bundle as Bundle };
    return this.cache.bundle;
  }

  async get(generation: number): Promise<Bundle | null> {
    if (this.cache?.generation === generation) return this.cache.bundle;
    const b = await this.store.getBundle(generation);
    return b ? (b.bundle as Bundle) : null;
  }

  private async poll() {
    try {
      this.announce(await this.store.latestGeneration());
    } catch (err) {
      this.log.debug({ err: String(err) }, 'generation poll failed');
    }
  }
}
