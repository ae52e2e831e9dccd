// SPDX-License-Identifier: Apache-2.0
/**
 * What a flow batch feeds that is written behind (monitoring state shared by
 * the site's controllers: unknown devices, observed tuples and rule uses,
 * plaintext tallies). Each such writer adds its WriteBehind's durable() here;
 * StreamFlows acknowledges a batch only once settled() says all of them have
 * written what the batch fed them (grpc/flow-reports.ts), so a controller that
 * dies before its flush loses nothing: the enforcer sends the batch again.
 *
 * Not here, by choice: device baselines (monitoring/baseline-sync.ts, written
 * every 15 s: a model learnt over days, of which a SIGKILL loses at most 15 s
 * of learning) and drop summaries (one security event per flow and interval).
 */
export class DerivedStateWriters {
  private readonly writers: Array<() => Promise<void>> = [];

  add(durable: () => Promise<void>): void {
    this.writers.push(durable);
  }

  /** Resolves once every writer has stored what it was fed before the call. */
  settled(): Promise<void> {
    if (this.writers.length === 0) return Promise.resolve();
    return Promise.all(this.writers.map((w) => w())).then(() => undefined);
  }
}
