// SPDX-License-Identifier: Apache-2.0
/** Device credentials and EST enrollment tokens: the tables of migration 7 (migration-0007-credentials.ts). */
import type { SqlExecutor } from './sql';
import { isoOrNull } from './rows';

export type CredentialKind = 'certificate' | 'psk';

export interface CredentialRow {
  id: string;
  device: string;
  kind: CredentialKind;
  fingerprint: string;
  issuedAt: string;
  notAfter: string | null;
  retireAt: string | null;
  revokedAt: string | null;
  revokeReason: string | null;
  certificate: string | null;
}

const iso = isoOrNull;

function row(r: Record<string, unknown>): CredentialRow {
  return {
    id: String(r.id),
    device: String(r.device),
    kind: r.kind as CredentialKind,
    fingerprint: String(r.fingerprint),
    issuedAt: iso(r.issued_at)!,
    notAfter: iso(r.not_after),
    retireAt: iso(r.retire_at),
    revokedAt: iso(r.revoked_at),
    revokeReason: (r.revoke_reason as string | null) ?? null,
    certificate: (r.certificate as string | null) ?? null,
  };
}

export class CredentialRepository {
  constructor(private readonly x: SqlExecutor) {}

  async insert(c: { id: string; device: string; kind: CredentialKind; fingerprint: string; notAfter: Date | null; certificate: string | null; actor: string }) {
    await this.x.query(
      `insert into device_credentials (id, device, kind, fingerprint, not_after, certificate, actor) values ($1, $2, $3, $4, $5, $6, $7)`,
      [c.id, c.device, c.kind, c.fingerprint, c.notAfter?.toISOString() ?? null, c.certificate, c.actor],
    );
  }

  async get(id: string): Promise<CredentialRow | null> {
    const rows = await this.x.query('select * from device_credentials where id = $1', [id]);
    return rows.length ? row(rows[0]) : null;
  }

  async listDevice(device: string): Promise<CredentialRow[]> {
    return (await this.x.query('select * from device_credentials where device = $1 order by issued_at, id', [device])).map(row);
  }

  /** Live: not revoked (an overlap may still be running). */
  async live(device: string, kind?: CredentialKind): Promise<CredentialRow[]> {
    const rows = kind
      ? await this.x.query('select * from device_credentials where device = $1 and kind = $2 and revoked_at is null order by issued_at, id', [device, kind])
      : await this.x.query('select * from device_credentials where device = $1 and revoked_at is null order by issued_at, id', [device]);
    return rows.map(row);
  }

  async liveDevices(): Promise<string[]> {
    return (await this.x.query<{ device: string }>('select distinct device from device_credentials where revoked_at is null')).map((r) => r.device);
  }

  async livePsks(): Promise<CredentialRow[]> {
    return (await this.x.query(`select * from device_credentials where kind = 'psk' and revoked_at is null order by device, issued_at`)).map(row);
  }

  async setRetire(ids: string[], at: Date) {
    if (!ids.length) return;
    await this.x.query('update device_credentials set retire_at = $2 where id = any($1::text[]) and revoked_at is null', [ids, at.toISOString()]);
  }

  /** Returns the ids actually revoked now (skips those already revoked). */
  async revoke(ids: string[], reason: string): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.x.query<{ id: string }>(
      'update device_credentials set revoked_at = now(), revoke_reason = $2 where id = any($1::text[]) and revoked_at is null returning id',
      [ids, reason],
    );
    return rows.map((r) => r.id);
  }

  /** Credentials whose rotation overlap has ended. */
  async dueForRetirement(now: Date): Promise<CredentialRow[]> {
    return (await this.x.query('select * from device_credentials where retire_at is not null and revoked_at is null and retire_at <= $1', [now.toISOString()])).map(row);
  }

  async nextRetirement(): Promise<Date | null> {
    const r = await this.x.query<{ t: unknown }>('select min(retire_at) as t from device_credentials where retire_at is not null and revoked_at is null');
    const t = iso(r[0]?.t);
    return t ? new Date(t) : null;
  }

  /** Revoked certificates not yet expired: what the CRL lists. */
  async revokedCertificates(): Promise<Array<{ id: string; revokedAt: string; reason: string | null }>> {
    const rows = await this.x.query(
      `select id, revoked_at, revoke_reason from device_credentials
        where kind = 'certificate' and revoked_at is not null and (not_after is null or not_after > now()) order by revoked_at, id`,
    );
    return rows.map((r) => ({ id: String(r.id), revokedAt: iso(r.revoked_at)!, reason: (r.revoke_reason as string | null) ?? null }));
  }

  async insertToken(hash: string, device: string, expiresAt: Date) {
    await this.x.query('insert into device_enrollment_tokens (hash, device, expires_at) values ($1, $2, $3)', [hash, device, expiresAt.toISOString()]);
  }

  /** Marks a one-time token used; the device it was for, or null if unknown, used or expired. Atomic. */
  async consumeToken(hash: string, device: string): Promise<boolean> {
    const rows = await this.x.query(
      `update device_enrollment_tokens set used_at = now()
        where hash = $1 and device = $2 and used_at is null and expires_at > now() returning hash`,
      [hash, device],
    );
    return rows.length > 0;
  }
}
