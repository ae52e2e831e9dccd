// SPDX-License-Identifier: Apache-2.0
/**
 * The detector's baselines in the store (issue 14), so that a restart or a
 * failover does not start every device's learning again (a compromised device
 * would then go unwatched for the learning window):
 *   - at start, the most recently seen devices' states are loaded (as many as
 *     the detector keeps);
 *   - every BASELINE_FLUSH_MS and at shutdown, the states of the devices
 *     observed since the last flush are written, one transaction a flush
 *     (write-behind.ts); a failed flush keeps them for the next;
 *   - on a shared PostgreSQL, a device's first flow to a controller that has no
 *     state for it (another controller was serving it) waits for the device's
 *     stored state: its flows meanwhile are queued and replayed once the state
 *     is in, so that the first new peer after a failover is judged against the
 *     baseline, not learnt. Each flush also reads which devices another
 *     controller wrote since, and drops a copy here that the stored one has
 *     moved past (its next flow loads the newer one).
 * A stored state that is refused (baseline-codec.ts) is logged and the device
 * learns again; a store that cannot answer leaves the device to learn again too.
 */
import type { Logger } from 'pino';
import type { BaselineRepository, StoredBaseline } from '../store/baselines.repository';
import { STATE_PULL_OVERLAP_MS, WriteBehind } from '../store/write-behind';
import { BaselineStateError } from './baseline-codec';
import type { Anomaly, AnomalyDetector } from './detector';

/**
 * How often changed baselines are written. A learnt baseline moves slowly, so
 * what a crash loses (this much of a device's learning) costs little, and the
 * writes stay small: one ~2 KB row per device that sent a flow in the interval.
 */
export const BASELINE_FLUSH_MS = 15_000;
/** Flows queued, all devices together, while their stored states load; beyond, they are counted and not observed. */
export const MAX_QUEUED_FLOWS = 50_000;
/** Devices loading at once; beyond, a device learns afresh rather than grow the queue without bound. */
export const MAX_LOADING = 10_000;
/** States encoded between two turns of the event loop (~8 ms: the gRPC receive path is not held for a whole flush). */
export const ENCODE_PER_TURN = 1000;

type Replay = (out: Anomaly[]) => void;

interface Loading {
  queue: Replay[];
  done: Promise<void>;
}

export class BaselineSync {
  private readonly writeBehind: WriteBehind;
  /** The store's time at the last read; null until the start has read. */
  private pulledAt: Date | null = null;
  private readonly loading = new Map<string, Loading>();
  private batch: string[] = [];
  private batchDone: Promise<void> | null = null;
  private queued = 0;
  /** Flows not observed because their device's queue was full while its state loaded. */
  droppedFlows = 0;
  private droppedLogged = 0;
  /** Stored states refused as malformed (or laid out for other options). */
  refused = 0;

  constructor(
    private readonly detector: AnomalyDetector,
    private readonly repo: BaselineRepository,
    private readonly log: Logger,
    /** Anomalies raised by flows replayed after a load. */
    private readonly raise: (anomalies: Anomaly[]) => void,
    flushMs = BASELINE_FLUSH_MS,
  ) {
    this.writeBehind = new WriteBehind(() => this.flushOnce(), flushMs, (err) => this.log.warn({ err: err.message }, 'baselines not written to the store; kept for the next flush'));
  }

  /** The stored baselines, then a flush every interval. */
  async start(): Promise<void> {
    try {
      const { rows, at } = await this.repo.loadAll(this.detector.options.maxDevices);
      // Least recently seen first: the detector forgets the oldest-created first when full.
      for (let i = rows.length - 1; i >= 0; i--) if (!this.detector.has(rows[i].device)) this.install(rows[i]);
      this.pulledAt = at;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not load the stored baselines: devices learn again');
    }
    this.writeBehind.start();
  }

  /** The last changes go to the store before it closes. */
  stop(): Promise<void> {
    return this.writeBehind.stop();
  }

  flush(): Promise<void> {
    return this.writeBehind.flush();
  }

  /**
   * A flow of `device`: true when it is queued (`replay` runs once the device's
   * stored state is loaded), false when the caller observes it now (the device
   * has state here, or no other controller can have written one).
   */
  defer(device: string, replay: Replay): boolean {
    if (!this.repo.shared || this.detector.has(device)) return false;
    const l = this.loading.get(device) ?? this.request(device);
    if (!l) return false;
    if (this.queued >= MAX_QUEUED_FLOWS) {
      this.droppedFlows++;
    } else {
      l.queue.push(replay);
      this.queued++;
    }
    return true;
  }

  /** Resolves once the device's stored state, if any, is here (GET /v1/baselines/:device before its first flow). */
  async ensure(device: string): Promise<void> {
    if (!this.repo.shared || this.detector.has(device)) return;
    await (this.loading.get(device) ?? this.request(device))?.done;
  }

  private request(device: string): Loading | null {
    if (this.loading.size >= MAX_LOADING) return null;
    if (!this.batchDone) {
      // Every device first seen in this turn of the event loop, in one query.
      this.batchDone = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        const devices = this.batch;
        this.batch = [];
        this.batchDone = null;
        return this.loadBatch(devices);
      });
    }
    this.batch.push(device);
    const l = { queue: [], done: this.batchDone };
    this.loading.set(device, l);
    return l;
  }

  private async loadBatch(devices: string[]): Promise<void> {
    let rows: StoredBaseline[] = [];
    try {
      rows = await this.repo.load(devices);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, devices: devices.length }, 'could not load stored baselines: these devices learn again');
    }
    const stored = new Map(rows.map((r) => [r.device, r]));
    const out: Anomaly[] = [];
    for (const device of devices) {
      const l = this.loading.get(device);
      this.loading.delete(device);
      const row = stored.get(device);
      if (row && !this.detector.has(device)) this.install(row);
      this.queued -= l?.queue.length ?? 0;
      try {
        for (const replay of l?.queue ?? []) replay(out);
      } catch (err) {
        this.log.warn({ device, err: (err as Error).message }, 'flows replayed after a baseline load could not be observed');
      }
    }
    if (out.length) this.raise(out);
    if (this.droppedFlows > this.droppedLogged) {
      this.log.warn({ flows: this.droppedFlows - this.droppedLogged }, 'flows not observed: too many queued while their devices\' stored baselines loaded');
      this.droppedLogged = this.droppedFlows;
    }
  }

  private install(row: StoredBaseline): void {
    try {
      this.detector.restore(row.device, row.state);
    } catch (err) {
      this.refused++;
      const why = err instanceof BaselineStateError ? err.message : `stored baseline refused: ${(err as Error).message}`;
      this.log.warn({ device: row.device, err: why }, 'stored baseline refused: the device learns again');
    }
  }

  private async flushOnce(): Promise<void> {
    const devices = this.detector.takeChanged();
    const changes: StoredBaseline[] = [];
    for (let i = 0; i < devices.length; i++) {
      if (i > 0 && i % ENCODE_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const x = this.detector.exportState(devices[i]);
      if (x) changes.push({ device: devices[i], ...x });
    }
    const since = this.repo.shared && this.pulledAt ? new Date(this.pulledAt.getTime() - STATE_PULL_OVERLAP_MS) : null;
    let result;
    try {
      result = await this.repo.sync({ changes, since, max: this.detector.options.maxDevices });
    } catch (err) {
      this.detector.markChanged(changes.map((c) => c.device));
      throw err;
    }
    this.pulledAt = result.at;
    // A copy another controller has moved past is stale: the device's next flow loads the stored one.
    for (const r of result.rows) {
      const here = this.detector.lastSeenOf(r.device);
      if (here !== null && r.lastSeen > here) this.detector.forget(r.device);
    }
  }
}
