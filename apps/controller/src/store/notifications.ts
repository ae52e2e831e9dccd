/**
 * What controllers sharing one PostgreSQL tell each other (NOTIFY/LISTEN): a
 * generation committed, an enforcer revoked, a certificate revoked. On PGlite (one controller) the
 * listens are no-ops.
 */
import { SqlDatabase, SqlExecutor } from './sql';

/** NOTIFY channel carrying the new generation number after each committed change. */
export const GENERATION_CHANNEL = 'cordon_generation';
/** NOTIFY channel carrying the name of an enforcer just revoked, so every controller cuts its streams. */
export const REVOCATION_CHANNEL = 'cordon_enforcer_revoked';
/** NOTIFY channel carrying the enforcer CA (SHA-256 of its certificate) whose revoked list grew, so every controller reloads it. */
export const CA_REVOKED_CHANNEL = 'cordon_ca_revoked';
/** NOTIFY channel carrying the name of an enforcer whose labels changed, so every controller re-sends its bundle. */
export const LABELS_CHANNEL = 'cordon_enforcer_labels';

/** Tells every controller sharing the database that `generation` is committed (sent at COMMIT when inside a transaction). */
export async function notifyGeneration(x: SqlExecutor, generation: number): Promise<void> {
  await x.query('select pg_notify($1, $2)', [GENERATION_CHANNEL, String(generation)]);
}

export class Notifications {
  constructor(private readonly db: SqlDatabase) {}

  /** Calls cb with each generation announced by any controller (PostgreSQL only; else a no-op). */
  async listenGenerations(cb: (generation: number) => void): Promise<() => Promise<void>> {
    if (!this.db.listen) return async () => undefined;
    return this.db.listen(GENERATION_CHANNEL, (p) => {
      const g = Number(p);
      if (Number.isInteger(g)) cb(g);
    });
  }

  /** Tells every controller sharing the database that an enforcer was revoked (PostgreSQL only; else a no-op). */
  async notifyRevocation(enforcer: string): Promise<void> {
    if (this.db.driver !== 'postgres') return;
    await this.db.query('select pg_notify($1, $2)', [REVOCATION_CHANNEL, enforcer]);
  }

  /** Tells every controller sharing the database that an enforcer's labels changed (at COMMIT inside a transaction; PostgreSQL only). */
  async notifyLabels(x: SqlExecutor, enforcer: string): Promise<void> {
    if (this.db.driver !== 'postgres') return;
    await x.query('select pg_notify($1, $2)', [LABELS_CHANNEL, enforcer]);
  }

  /** Calls cb with each enforcer whose labels any controller changed (PostgreSQL only; else a no-op). */
  async listenLabels(cb: (enforcer: string) => void): Promise<() => Promise<void>> {
    if (!this.db.listen) return async () => undefined;
    return this.db.listen(LABELS_CHANNEL, cb);
  }

  /** Tells every controller sharing the database that the revoked list of CA `ca` grew (at COMMIT inside a transaction; PostgreSQL only). */
  async notifyCaRevoked(x: SqlExecutor, ca: string): Promise<void> {
    if (this.db.driver !== 'postgres') return;
    await x.query('select pg_notify($1, $2)', [CA_REVOKED_CHANNEL, ca]);
  }

  /** Calls cb with each CA whose revoked list any controller added to (PostgreSQL only; else a no-op). */
  async listenCaRevoked(cb: (ca: string) => void): Promise<() => Promise<void>> {
    if (!this.db.listen) return async () => undefined;
    return this.db.listen(CA_REVOKED_CHANNEL, cb);
  }

  /** Calls cb with each enforcer name revoked by any controller (PostgreSQL only; else a no-op). */
  async listenRevocations(cb: (enforcer: string) => void): Promise<() => Promise<void>> {
    if (!this.db.listen) return async () => undefined;
    return this.db.listen(REVOCATION_CHANNEL, cb);
  }
}
