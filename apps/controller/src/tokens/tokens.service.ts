import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { badRequest } from '../http/problem';
import type { Actor } from '../auth/roles';
import { STORE } from '../tokens';
import type { Role, Store, TokenRecord } from '../store/store';
import { parseDuration } from './duration';

export const ENROLLMENT_DEFAULT_TTL = '1h';

/** 256 random bits; the prefix makes a leaked token easy to spot by secret scanners. */
export function generateSecret(): string {
  return 'cdn_' + randomBytes(32).toString('base64url');
}

/** Only this is stored: the secret has enough entropy that a plain sha256 cannot be reversed. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export interface CreateTokenRequest {
  kind?: 'api' | 'enrollment';
  role?: Role;
  name?: string;
  ttl?: string;
}

export interface CreatedToken {
  token: string;
  expiresAt: string | null;
  kind: 'api' | 'enrollment';
  role: string;
  name: string;
  id: number;
}

@Injectable()
export class TokensService {
  constructor(@Inject(STORE) private readonly store: Store) {}

  /** An API token's record when the secret is valid (known, unrevoked, unexpired). */
  authenticate(secret: string): Promise<TokenRecord | null> {
    return this.store.findApiToken(hashToken(secret));
  }

  /**
   * For the control channel: spends a one-time enrollment token. Returns its record
   * the first time a valid, unexpired token is presented, null ever after.
   */
  consumeEnrollmentToken(secret: string): Promise<TokenRecord | null> {
    return this.store.consumeEnrollmentToken(hashToken(secret));
  }

  async create(req: CreateTokenRequest, actor: Actor | null): Promise<CreatedToken> {
    const kind = req.kind ?? (req.role ? 'api' : 'enrollment');
    if (kind !== 'api' && kind !== 'enrollment') throw badRequest(`kind must be "api" or "enrollment", got "${String(kind)}"`);
    const role = kind === 'enrollment' ? 'enforcer' : (req.role ?? 'viewer');
    if (kind === 'api' && !['viewer', 'operator', 'admin'].includes(role)) {
      throw badRequest(`role must be viewer, operator or admin, got "${String(role)}"`);
    }
    const ttl = req.ttl ?? (kind === 'enrollment' ? ENROLLMENT_DEFAULT_TTL : undefined);
    let expiresAt: Date | null = null;
    if (ttl !== undefined) {
      const ms = typeof ttl === 'string' ? parseDuration(ttl) : null;
      if (ms === null) throw badRequest(`ttl must be a duration such as 30m, 1h or 7d, got "${String(ttl)}"`);
      expiresAt = new Date(Date.now() + ms);
    }
    if (req.name !== undefined && (typeof req.name !== 'string' || !/^[\w.@:-]{1,100}$/.test(req.name))) {
      throw badRequest('name must be 1-100 letters, digits or ._@:-');
    }
    const name = req.name ?? `${kind === 'enrollment' ? 'enroll' : role}-${randomBytes(4).toString('hex')}`;
    const secret = generateSecret();
    const rec = await this.store.change(async (tx) => {
      const r = await tx.insertToken({ hash: hashToken(secret), kind, role: role as Role | 'enforcer', name, expiresAt });
      await tx.appendAudit({
        actor: actor?.name ?? 'controller',
        source: actor?.source ?? null,
        action: 'token.create',
        target: name,
        diff: { kind, role, expiresAt: r.expiresAt },
      });
      return r;
    });
    return { token: secret, expiresAt: rec.expiresAt, kind, role, name, id: rec.id };
  }
}
