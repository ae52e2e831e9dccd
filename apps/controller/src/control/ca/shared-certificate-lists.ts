// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer CA's issued and revoked lists in the store (issue 14,
 * store/migration-1290-ca-lists.ts), the same for every controller of a
 * site, PGlite embedded or a shared PostgreSQL: one SQL for both.
 *
 * Verification runs on every call an enforcer makes, so it reads memory:
 * - the revoked list is held whole (it is small: what the CRL carries) and
 *   reloaded when another controller revokes — told by NOTIFY, and noticed by
 *   a poll every half second that covers a missed notification;
 * - issued certificates are held as this controller issued or looked them up;
 *   one it does not know yet (issued by another controller a moment ago) is
 *   looked up in the store, so nothing waits for a notification.
 * On the embedded store there is one controller: no NOTIFY, no poll.
 */
import type { SqlDatabase } from '../../store/sql';
import { Notifications } from '../../store/notifications';
import { iso } from '../../store/rows';
import type { CertificateLists, IssuedCert, RevokedCert } from './certificate-lists';

/** How often a controller on a shared PostgreSQL checks for revocations it was not told of. */
export const REVOCATION_POLL_MS = 500;
/** Certificates expired this long are forgotten (unless revoked: the CRL keeps those). */
const FORGET_EXPIRED = "interval '7 days'";

const toIssued = (r: Record<string, unknown>): IssuedCert => ({
  serial: String(r.serial),
  name: String(r.name),
  kind: r.kind === 'server' ? 'server' : 'enforcer',
  issuedAt: iso(r.issued_at),
  notAfter: iso(r.not_after),
});
const toRevoked = (r: Record<string, unknown>): RevokedCert => ({ serial: String(r.serial), name: String(r.name), revokedAt: iso(r.revoked_at) });

export interface SharedListsOptions {
  pollMs?: number;
  /** Told when following other controllers fails (once per outage) and recovers. */
  onFollowError?: (err: Error | null) => void;
}

export class SharedCertificateLists implements CertificateLists {
  private readonly issued = new Map<string, IssuedCert>();
  private revokedBySerial = new Map<string, RevokedCert>();
  /** Row count and highest seq of the revoked rows held: a poll reloads when the store's differ. */
  private mark = '';
  private readonly listeners: (() => void)[] = [];
  private readonly notifications: Notifications;
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private failing = false;

  private constructor(
    private readonly db: SqlDatabase,
    /** The CA these lists belong to: SHA-256 hex of its certificate's DER. */
    readonly ca: string,
    private readonly opts: SharedListsOptions,
  ) {
    this.notifications = new Notifications(db);
  }

  /** Loads the lists of CA `ca` and, on a shared PostgreSQL, follows other controllers' revocations. */
  static async open(db: SqlDatabase, ca: string, opts: SharedListsOptions = {}): Promise<SharedCertificateLists> {
    const l = new SharedCertificateLists(db, ca, opts);
    await l.forgetExpired();
    for (const r of await db.query('select serial, name, kind, issued_at, not_after from ca_issued_certs where ca = $1', [ca])) l.issued.set(String(r.serial), toIssued(r));
    await l.reloadRevoked();
    if (db.driver === 'postgres') {
      try {
        l.unlisten = await l.notifications.listenCaRevoked((which) => which === ca && l.refresh());
      } catch (err) {
        opts.onFollowError?.(err as Error); // the poll still follows
      }
      l.timer = setInterval(() => l.refresh(), opts.pollMs ?? REVOCATION_POLL_MS);
      l.timer.unref();
    }
    return l;
  }

  issuedKnown(serial: string): IssuedCert | undefined {
    return this.issued.get(serial);
  }

  async lookupIssued(serial: string): Promise<IssuedCert | undefined> {
    const known = this.issued.get(serial);
    if (known) return known;
    const rows = await this.db.query('select serial, name, kind, issued_at, not_after from ca_issued_certs where ca = $1 and serial = $2', [this.ca, serial]);
    if (!rows.length) return undefined;
    const c = toIssued(rows[0]);
    this.issued.set(serial, c);
    return c;
  }

  async recordIssued(c: IssuedCert): Promise<void> {
    await this.db.query(
      `insert into ca_issued_certs (ca, serial, name, kind, issued_at, not_after) values ($1, $2, $3, $4, $5, $6)
       on conflict (ca, serial) do nothing`,
      [this.ca, c.serial, c.name, c.kind, c.issuedAt, c.notAfter],
    );
    this.issued.set(c.serial, c);
    // at most hourly: on every issuance it was a DELETE scan per enrollment
    if (Date.now() - this.forgotAt > 3600_000) await this.forgetExpired();
  }

  async revokeName(name: string, at: Date): Promise<RevokedCert[]> {
    const rows = await this.db.transaction(async (tx) => {
      const r = await tx.query(
        `insert into ca_revoked_certs (ca, serial, name, revoked_at)
         select ca, serial, name, $3::timestamptz from ca_issued_certs where ca = $1 and name = $2 and kind = 'enforcer'
         on conflict (ca, serial) do nothing
         returning serial, name, revoked_at`,
        [this.ca, name, at.toISOString()],
      );
      if (r.length) await this.notifications.notifyCaRevoked(tx, this.ca);
      return r;
    });
    await this.reloadRevoked();
    return rows.map(toRevoked);
  }

  /**
   * Takes records kept before the lists were in the store (legacy-lists.ts):
   * all of them or, on an error, none; what the store has already is kept.
   */
  async importRecords(issued: IssuedCert[], revoked: RevokedCert[]): Promise<{ issued: number; revoked: number }> {
    const n = await this.db.transaction(async (tx) => {
      let i = 0;
      let r = 0;
      for (const c of issued) {
        i += (await tx.query(
          `insert into ca_issued_certs (ca, serial, name, kind, issued_at, not_after) values ($1, $2, $3, $4, $5, $6)
           on conflict (ca, serial) do nothing returning serial`,
          [this.ca, c.serial, c.name, c.kind, c.issuedAt, c.notAfter],
        )).length;
      }
      for (const c of revoked) {
        r += (await tx.query(
          'insert into ca_revoked_certs (ca, serial, name, revoked_at) values ($1, $2, $3, $4) on conflict (ca, serial) do nothing returning serial',
          [this.ca, c.serial, c.name, c.revokedAt],
        )).length;
      }
      if (r) await this.notifications.notifyCaRevoked(tx, this.ca);
      return { issued: i, revoked: r };
    });
    for (const c of issued) this.issued.set(c.serial, c);
    await this.reloadRevoked();
    return n;
  }

  isRevoked(serial: string): boolean {
    return this.revokedBySerial.has(serial);
  }

  revoked(): RevokedCert[] {
    return [...this.revokedBySerial.values()];
  }

  onRevokedChange(cb: () => void): void {
    this.listeners.push(cb);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.unlisten?.().catch(() => undefined);
    this.unlisten = null;
    await this.refreshing;
  }

  /** Checks the store's revoked rows against those held; one check at a time, another after it if asked meanwhile. */
  private refresh(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          const [m] = await this.db.query<{ n: number; seq: string }>('select count(*)::int as n, coalesce(max(seq), 0)::text as seq from ca_revoked_certs where ca = $1', [this.ca]);
          if (`${m.n}:${m.seq}` !== this.mark) {
            await this.reloadRevoked();
            for (const cb of this.listeners) cb();
          }
          if (this.failing) this.opts.onFollowError?.(null);
          this.failing = false;
        } catch (err) {
          if (!this.failing) this.opts.onFollowError?.(err as Error);
          this.failing = true;
        }
      } while (this.refreshAgain && this.timer);
    })().finally(() => (this.refreshing = null));
  }

  private async reloadRevoked(): Promise<void> {
    const rows = await this.db.query('select serial, name, revoked_at, seq::text as seq from ca_revoked_certs where ca = $1 order by seq', [this.ca]);
    this.revokedBySerial = new Map(rows.map((r) => [String(r.serial), toRevoked(r)]));
    this.mark = `${rows.length}:${rows.length ? String(rows[rows.length - 1].seq) : '0'}`;
  }

  private forgotAt = 0;
  private async forgetExpired(): Promise<void> {
    this.forgotAt = Date.now();
    await this.db.query(
      `delete from ca_issued_certs i where i.ca = $1 and i.not_after < now() - ${FORGET_EXPIRED}
       and not exists (select 1 from ca_revoked_certs r where r.ca = i.ca and r.serial = i.serial)`,
      [this.ca],
    );
    const cutoff = Date.now() - 7 * 86400_000;
    for (const [s, c] of this.issued) if (Date.parse(c.notAfter) < cutoff && !this.revokedBySerial.has(s)) this.issued.delete(s);
  }
}
