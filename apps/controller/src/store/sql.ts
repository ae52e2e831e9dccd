/**
 * The few database operations both drivers provide. Everything above this line is
 * plain PostgreSQL, written once in the repositories and SqlStore.
 */
export interface SqlExecutor {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface SessionLock {
  /** True when this process holds the lock (now, or from an earlier call whose connection still stands). */
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
}

export interface SqlDatabase extends SqlExecutor {
  /** Runs fn in one transaction: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * A session-level advisory lock on a connection of its own (PostgreSQL only):
   * held until released or until this process's connection goes (it dies), so
   * another controller's tryAcquire then succeeds. Without it (embedded), the
   * one controller always leads.
   */
  sessionLock?(key: number): SessionLock;
  /** Calls onNotify for every NOTIFY on channel (PostgreSQL only); returns an unsubscribe. */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  readonly driver: 'pglite' | 'postgres';
}
