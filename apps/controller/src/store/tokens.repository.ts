/**
 * API tokens and enforcer enrollment tokens (migrations 1 and 14). Tokens are
 * looked up by the sha256 of their secret; the secret itself is never stored.
 */
import { SqlExecutor } from './sql';
import { iso, isoOrNull } from './rows';
import type { TokenInsert, TokenKind, TokenRecord } from './types';

function toToken(r: Record<string, unknown>): TokenRecord {
  return {
    id: Number(r.id),
    kind: r.kind as TokenKind,
    role: r.role as TokenRecord['role'],
    name: String(r.name),
    createdAt: iso(r.created_at),
    expiresAt: isoOrNull(r.expires_at),
    usedAt: isoOrNull(r.used_at),
    revoked: Boolean(r.revoked),
    enforcer: (r.enforcer as string | null) ?? null,
    replace: Boolean(r.replace),
    usedBy: (r.used_by as string | null) ?? null,
    lastUsedAt: isoOrNull(r.last_used_at),
    bootstrap: Boolean(r.bootstrap),
  };
}

export class TokenRepository {
  constructor(private readonly x: SqlExecutor) {}

  /** A live API token (unrevoked, unexpired) by the hash of its secret. */
  async findApi(hash: string): Promise<TokenRecord | null> {
    const rows = await this.x.query(
      `select * from tokens where hash = $1 and kind = 'api' and not revoked
         and (expires_at is null or expires_at > now())`,
      [hash],
    );
    return rows.length ? toToken(rows[0]) : null;
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.x.query('select * from tokens order by id')).map(toToken);
  }

  /** Any token by the hash of its secret, whatever its state (revoked, expired, used). */
  async getByHash(hash: string): Promise<TokenRecord | null> {
    const rows = await this.x.query('select * from tokens where hash = $1', [hash]);
    return rows.length ? toToken(rows[0]) : null;
  }

  async get(id: number): Promise<TokenRecord | null> {
    const rows = await this.x.query('select * from tokens where id = $1', [id]);
    return rows.length ? toToken(rows[0]) : null;
  }

  /** A one-time enrollment token that can still be spent (known, unused, unrevoked, unexpired). */
  async findEnrollment(hash: string): Promise<TokenRecord | null> {
    const rows = await this.x.query(
      `select * from tokens where hash = $1 and kind = 'enrollment' and used_at is null and not revoked
         and (expires_at is null or expires_at > now())`,
      [hash],
    );
    return rows.length ? toToken(rows[0]) : null;
  }

  /** Revokes every unrevoked bootstrap admin token; returns their ids. */
  async revokeBootstrap(): Promise<number[]> {
    const rows = await this.x.query<{ id: number }>("update tokens set revoked = true where bootstrap and kind = 'api' and not revoked returning id");
    return rows.map((r) => Number(r.id));
  }

  /** Records a use of an API token (last_used_at = now). */
  async touch(id: number): Promise<void> {
    await this.x.query('update tokens set last_used_at = now() where id = $1', [id]);
  }

  async count(role?: string): Promise<number> {
    const rows = role
      ? await this.x.query<{ n: number }>('select count(*)::int as n from tokens where role = $1 and not revoked', [role])
      : await this.x.query<{ n: number }>('select count(*)::int as n from tokens');
    return Number(rows[0].n);
  }

  async insert(t: TokenInsert): Promise<TokenRecord> {
    const rows = await this.x.query(
      'insert into tokens (hash, kind, role, name, expires_at, enforcer, replace, bootstrap) values ($1, $2, $3, $4, $5, $6, $7, $8) returning *',
      [t.hash, t.kind, t.role, t.name, t.expiresAt ? t.expiresAt.toISOString() : null, t.enforcer ?? null, t.replace === true, t.bootstrap === true],
    );
    return toToken(rows[0]);
  }

  async revoke(id: number): Promise<boolean> {
    return (await this.x.query('update tokens set revoked = true where id = $1 returning id', [id])).length > 0;
  }

  /** Marks a one-time enrollment token used (by `usedBy`); null when unknown, used, revoked or expired. Atomic. */
  async consumeEnrollment(hash: string, usedBy?: string): Promise<TokenRecord | null> {
    const rows = await this.x.query(
      `update tokens set used_at = now(), used_by = $2
        where hash = $1 and kind = 'enrollment' and used_at is null and not revoked
          and (expires_at is null or expires_at > now())
        returning *`,
      [hash, usedBy ?? null],
    );
    return rows.length ? toToken(rows[0]) : null;
  }
}
