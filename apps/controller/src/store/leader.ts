// SPDX-License-Identifier: Apache-2.0
/**
 * Which controller of a site leads a job that must run once per site (the
 * audit log's tail into the security event stream, and so the SIEM export of
 * audit events and the signed audit checkpoints): the one holding a
 * PostgreSQL session advisory lock (sql.ts sessionLock). When the leader dies,
 * its connection goes, the lock with it, and the next controller to ask takes
 * over. Embedded (PGlite, one controller): always the leader.
 */
import type { SessionLock, SqlDatabase, SqlExecutor } from './sql';

/** Advisory lock keys of the jobs led by one controller. */
export const LEAD = { auditTail: 7470_7415 } as const;

export class Leader {
  private lock: SessionLock | null = null;
  private was = false;

  constructor(
    private readonly db: SqlExecutor | null,
    private readonly key: number,
  ) {}

  /** Whether this controller leads now; `onTakeOver` runs once each time it becomes the leader. */
  async leading(onTakeOver?: () => Promise<void>): Promise<boolean> {
    const open = (this.db as SqlDatabase | null)?.sessionLock;
    let now = true; // embedded: the one controller leads
    if (open) {
      this.lock ??= open.call(this.db, this.key);
      now = await this.lock.tryAcquire().catch(() => false);
    }
    if (now && !this.was) await onTakeOver?.();
    this.was = now;
    return now;
  }

  /** The last answer of leading() (for synchronous callers). */
  get isLeader(): boolean {
    return this.lock === null ? !(this.db as SqlDatabase | null)?.sessionLock : this.was;
  }

  async release(): Promise<void> {
    await this.lock?.release();
    this.was = false;
  }
}
