// SPDX-License-Identifier: Apache-2.0
/**
 * Which flow batches were taken, per enforcer: the last sequence number of
 * its current run (store/migration-0141-site-sharing.ts) and the last one whose
 * derived state is in the store (migration-1340-flow-state-marks.ts). In the
 * database, so that a batch an enforcer sends again after moving to another
 * controller of the site is recognised there too.
 * - claim(): a batch is taken (true) when its run is new or its seq is above
 *   the last one; durable before anything counts it. One row per enforcer: a
 *   write per batch (an enforcer's batches come every --flow-interval, 5 s by
 *   default).
 * - markStored(): the batch's derived state was written behind; marks made in
 *   one turn of the event loop (every batch a flush settled) go in one
 *   statement.
 * - stored(): a claimed batch sent again: was its derived state stored before
 *   its controller lost it? If not, it is fed to the derived state again.
 */
import type { SqlExecutor } from '../../store/sql';

export interface FlowSequences {
  /** True: first time (count it); false: already taken (acknowledge, do not count). */
  claim(enforcer: string, run: string, seq: number): Promise<boolean>;
  /** The batch's derived state is in the store. */
  markStored(enforcer: string, run: string, seq: number): Promise<void>;
  /** True when markStored() was done for this batch (or a later one of its run). */
  stored(enforcer: string, run: string, seq: number): Promise<boolean>;
}

export class SqlFlowSequences implements FlowSequences {
  private marks: Array<{ enforcer: string; run: string; seq: number }> = [];
  private marking: Promise<void> | null = null;

  constructor(private readonly x: SqlExecutor) {}

  async claim(enforcer: string, run: string, seq: number): Promise<boolean> {
    const rows = await this.x.query(
      `insert into flow_sequences (enforcer, run, last_seq) values ($1, $2, $3)
       on conflict (enforcer) do update set run = excluded.run, last_seq = excluded.last_seq, updated_at = now(),
         state_seq = case when flow_sequences.run <> excluded.run then 0 else flow_sequences.state_seq end
       where flow_sequences.run <> excluded.run or flow_sequences.last_seq < excluded.last_seq
       returning enforcer`,
      [enforcer, run, seq],
    );
    return rows.length === 1;
  }

  markStored(enforcer: string, run: string, seq: number): Promise<void> {
    this.marks.push({ enforcer, run, seq });
    this.marking ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.writeMarks());
    return this.marking;
  }

  async stored(enforcer: string, run: string, seq: number): Promise<boolean> {
    const rows = await this.x.query(`select 1 from flow_sequences where enforcer = $1 and run = $2 and state_seq >= $3`, [enforcer, run, seq]);
    return rows.length === 1;
  }

  private async writeMarks(): Promise<void> {
    const marks = this.marks;
    this.marks = [];
    this.marking = null;
    // One enforcer's highest mark per statement (unnest would update a row twice).
    const last = new Map<string, { run: string; seq: number }>();
    for (const m of marks) {
      const l = last.get(m.enforcer);
      if (!l || l.run !== m.run || l.seq < m.seq) last.set(m.enforcer, m);
    }
    const names = [...last.keys()];
    await this.x.query(
      `update flow_sequences f set state_seq = v.seq
       from unnest($1::text[], $2::text[], $3::bigint[]) as v(enforcer, run, seq)
       where f.enforcer = v.enforcer and f.run = v.run and f.state_seq < v.seq`,
      [names, names.map((n) => last.get(n)!.run), names.map((n) => last.get(n)!.seq)],
    );
  }
}

/** For a controller without a database (tests): the same rules, in memory. */
export class MemoryFlowSequences implements FlowSequences {
  private readonly last = new Map<string, { run: string; seq: number; stored: number }>();
  async claim(enforcer: string, run: string, seq: number): Promise<boolean> {
    const l = this.last.get(enforcer);
    if (l && l.run === run && l.seq >= seq) return false;
    this.last.set(enforcer, { run, seq, stored: l && l.run === run ? l.stored : 0 });
    return true;
  }
  async markStored(enforcer: string, run: string, seq: number): Promise<void> {
    const l = this.last.get(enforcer);
    if (l && l.run === run && l.stored < seq) l.stored = seq;
  }
  async stored(enforcer: string, run: string, seq: number): Promise<boolean> {
    const l = this.last.get(enforcer);
    return !!l && l.run === run && l.stored >= seq;
  }
}
