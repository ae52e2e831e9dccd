// SPDX-License-Identifier: Apache-2.0
/**
 * Which flow batches were taken, per enforcer: the last sequence number of
 * its current run (store/migration-0141-site-sharing.ts). In the database, so
 * that a batch an enforcer sends again after moving to another controller of
 * the site is recognised there too. A batch is taken (claim() true) when its
 * run is new or its seq is above the last one; the claim is durable before the
 * batch is acknowledged. One row per enforcer: a write per batch (an
 * enforcer's batches come every --flow-interval, 5 s by default).
 */
import type { SqlExecutor } from '../../store/sql';

export interface FlowSequences {
  /** True: first time (count it); false: already taken (acknowledge, do not count). */
  claim(enforcer: string, run: string, seq: number): Promise<boolean>;
}

export class SqlFlowSequences implements FlowSequences {
  constructor(private readonly x: SqlExecutor) {}

  async claim(enforcer: string, run: string, seq: number): Promise<boolean> {
    const rows = await this.x.query(
      `insert into flow_sequences (enforcer, run, last_seq) values ($1, $2, $3)
       on conflict (enforcer) do update set run = excluded.run, last_seq = excluded.last_seq, updated_at = now()
       where flow_sequences.run <> excluded.run or flow_sequences.last_seq < excluded.last_seq
       returning enforcer`,
      [enforcer, run, seq],
    );
    return rows.length === 1;
  }
}

/** For a controller without a database (tests): the same rule, in memory. */
export class MemoryFlowSequences implements FlowSequences {
  private readonly last = new Map<string, { run: string; seq: number }>();
  async claim(enforcer: string, run: string, seq: number): Promise<boolean> {
    const l = this.last.get(enforcer);
    if (l && l.run === run && l.seq >= seq) return false;
    this.last.set(enforcer, { run, seq });
    return true;
  }
}
