// SPDX-License-Identifier: Apache-2.0
/**
 * The observed tuples and rule uses (observed-flows.ts) are the site's
 * (issue 14): loaded from the store at start, and every STATE_FLUSH_MS (and
 * at shutdown) this controller's deltas go to the store in one transaction,
 * which hands back every row any controller changed since the last flush (on
 * a shared PostgreSQL; an embedded store has this one writer, so it is read
 * at start only). `recommend` and `report unused` read the memory
 * (synchronous, no query per request), at most one flush interval behind the
 * other controllers — so a rule one controller saw used is not called unused
 * by another, nor after a restart.
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import type { DerivedStateWriters } from '../control/derived-state';
import { DERIVED_STATE } from '../control/feeds';
import type { Logger } from 'pino';
import { LOGGER } from '../di-tokens';
import { ObservedFlowRepository, type ObservedFlowsRows } from '../store/observed-flows.repository';
import { chunks } from '../store/unknown-devices.repository';
import { STATE_FLUSH_MS, STATE_PULL_OVERLAP_MS, WriteBehind } from '../store/write-behind';
import { MAX_OBSERVED_TUPLES, MAX_RULE_USES, ObservedFlows } from './observed-flows';

/** Rows merged between two turns of the event loop. */
const MERGE_SLICE = 5000;

@Injectable()
export class ObservedFlowsService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly table = new ObservedFlows(MAX_OBSERVED_TUPLES, MAX_RULE_USES);
  private readonly startedMs = this.table.observedSince;
  private readonly writeBehind: WriteBehind;
  /** The store's time at the last flush that read back; null until the first (a start reads every row). */
  private pulledAt: Date | null = null;

  constructor(
    @Inject(ObservedFlowRepository) private readonly stored: ObservedFlowRepository,
    @Inject(LOGGER) private readonly log: Logger,
    @Optional() @Inject(DERIVED_STATE) derived?: DerivedStateWriters,
  ) {
    this.writeBehind = new WriteBehind(() => this.flushOnce(), STATE_FLUSH_MS, (err) => this.log.warn({ err: err.message }, 'observed flows and rule uses not written to the store; kept for the next flush'));
    derived?.add(() => this.writeBehind.durable());
  }

  /** The site's tuples and rule uses from the store, then a flush every STATE_FLUSH_MS. */
  async onApplicationBootstrap(): Promise<void> {
    await this.flush();
    this.writeBehind.start();
  }

  /** The last deltas go to the store before it closes. */
  async onModuleDestroy(): Promise<void> {
    await this.writeBehind.stop();
  }

  /** Writes this controller's deltas and merges what the site's controllers changed since the last flush. */
  flush(): Promise<void> {
    return this.writeBehind.flush();
  }

  private async flushOnce(): Promise<void> {
    const taken = this.table.takeChanges();
    const since = this.pulledAt && new Date(this.pulledAt.getTime() - STATE_PULL_OVERLAP_MS);
    let result;
    try {
      result = await this.stored.sync({
        ...taken,
        pull: this.pulledAt === null || this.stored.shared,
        since,
        maxTuples: MAX_OBSERVED_TUPLES,
        maxRules: MAX_RULE_USES,
        startedMs: this.startedMs,
      });
    } catch (err) {
      this.table.restoreChanges(taken);
      throw err;
    }
    await mergeInSlices(this.table, result.rows);
    this.pulledAt = result.at;
  }
}

/**
 * The rows a flush handed back (up to every tuple and rule of the site)
 * merged a slice at a time, oldest first, with a turn of the event loop
 * between slices: at ~3 µs a row, 60,000 rows would hold the gRPC receive
 * path ~0.2 s at once. Flows counted between two slices are safe: each row
 * is merged with the deltas pending at that moment.
 */
export async function mergeInSlices(table: ObservedFlows, rows: ObservedFlowsRows): Promise<void> {
  table.merge({ tuples: [], rules: [], startedMs: rows.startedMs });
  const tuples = [...rows.tuples].sort((a, b) => a.lastSeen - b.lastSeen);
  const rules = [...rows.rules].sort((a, b) => a.lastUsed - b.lastUsed);
  for await (const part of chunks(tuples, MERGE_SLICE)) table.merge({ tuples: part, rules: [], startedMs: null });
  for await (const part of chunks(rules, MERGE_SLICE)) table.merge({ tuples: [], rules: part, startedMs: null });
}
