import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { badRequest, notFound, Problem } from '../http/problem';
import type { Actor } from '../auth/roles';
import { CONFIG, LOGGER, STORE } from '../di-tokens';
import type { Role, Store, TokenRecord } from '../store/store';
import { ENFORCER_NAME } from '../../../../proto/cordon/v1/control';
import { parsePositiveDuration as parseDuration } from '../../../common/src/duration';
import { reservedNameProblem } from './enrollment-binding';
import { writeAdminTokenFile } from './admin-token-file';

export const ENROLLMENT_DEFAULT_TTL = '1h';
/** API tokens (the bootstrap admin token included) expire; `--ttl` changes it, nothing makes it endless. */
export const API_DEFAULT_TTL = '90d';

/** 256 random bits; the prefix makes a leaked token easy to spot by secret scanners. */
export function generateSecret(): string {
  return 'cdn_' + randomBytes(32).toString('base64url');
}

/** Only this is stored: the secret has enough entropy that a plain sha256 cannot be reversed. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Expiry from a ttl text; throws 400 with the field's reason. */
export function expiryFrom(ttl: unknown): Date {
  const ms = typeof ttl === 'string' ? parseDuration(ttl) : null;
  if (ms === null) throw badRequest(`ttl must be a duration such as 30m, 1h, 7d or 90d, got "${String(ttl)}"`);
  return new Date(Date.now() + ms);
}

export interface CreateTokenRequest {
  kind?: 'api' | 'enrollment';
  role?: Role;
  /** API token: a label for the audit log. Enrollment token: the enforcer name it may take. */
  name?: string;
  ttl?: string;
  /** Enrollment token with a name: it may take the name from a live enforcer (revoking its certificates). */
  replace?: boolean;
}

export interface CreatedToken {
  token: string;
  expiresAt: string | null;
  kind: 'api' | 'enrollment';
  role: string;
  name: string;
  id: number;
  enforcer: string | null;
  replace: boolean;
}

/** A token as listed: metadata only, never the secret or its hash. */
export interface TokenView extends TokenRecord {
  state: 'active' | 'used' | 'expired' | 'revoked';
}

export function tokenView(t: TokenRecord, now = Date.now()): TokenView {
  const state = t.revoked ? 'revoked' : t.usedAt && t.kind === 'enrollment' ? 'used' : t.expiresAt && Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
  return { ...t, state };
}

@Injectable()
export class TokensService {
  /**
   * How often a token's last_used_at is written, at most, per controller: one
   * UPDATE per token a minute, whatever the request rate (a console polling
   * every second costs nothing more). Tests lower it.
   */
  static lastUsedEveryMs = 60_000;
  private readonly lastWritten = new Map<number, number>();

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Optional() @Inject(CONFIG) private readonly config?: { dataDir: string },
    @Optional() @Inject(LOGGER) private readonly log?: Logger,
  ) {}

  /** An API token's record when the secret is valid (known, unrevoked, unexpired); records the use. */
  async authenticate(secret: string): Promise<TokenRecord | null> {
    // Looked up on every request: a revoked or expired token is refused at once, on every controller.
    const t = await this.store.tokens.findApi(hashToken(secret));
    if (t) await this.recordUse(t.id);
    return t;
  }

  private async recordUse(id: number): Promise<void> {
    const now = Date.now();
    if (now - (this.lastWritten.get(id) ?? -Infinity) < TokensService.lastUsedEveryMs) return;
    this.lastWritten.set(id, now);
    await this.store.tokens.touch(id).catch((err) => this.log?.warn({ err: String(err), token: id }, 'could not record the use of a token'));
  }

  async create(req: CreateTokenRequest, actor: Actor | null): Promise<CreatedToken> {
    const kind = req.kind ?? (req.role ? 'api' : 'enrollment');
    if (kind !== 'api' && kind !== 'enrollment') throw badRequest(`kind must be "api" or "enrollment", got "${String(kind)}"`);
    const role = kind === 'enrollment' ? 'enforcer' : (req.role ?? 'viewer');
    if (kind === 'api' && !['viewer', 'operator', 'admin'].includes(role)) {
      throw badRequest(`role must be viewer, operator or admin, got "${String(role)}"`);
    }
    const expiresAt = expiryFrom(req.ttl ?? (kind === 'enrollment' ? ENROLLMENT_DEFAULT_TTL : API_DEFAULT_TTL));
    if (req.replace !== undefined && typeof req.replace !== 'boolean') throw badRequest('replace must be true or false');
    let enforcer: string | null = null;
    let name: string;
    if (kind === 'enrollment') {
      if (req.name !== undefined) {
        if (typeof req.name !== 'string' || !ENFORCER_NAME.test(req.name)) throw badRequest(`name (the enforcer the token is for) must be 1-63 of [a-z0-9-] starting with a letter or digit, got "${String(req.name)}"`);
        const reserved = reservedNameProblem(req.name);
        if (reserved) throw badRequest(reserved);
        enforcer = req.name;
      }
      if (req.replace && !enforcer) throw badRequest('replace needs the name of the enforcer to replace (cordon token create --name NAME --replace)');
      name = `enroll-${enforcer ?? randomBytes(4).toString('hex')}`;
    } else {
      if (req.replace) throw badRequest('replace is for enrollment tokens');
      if (req.name !== undefined && (typeof req.name !== 'string' || !/^[\w.@:-]{1,100}$/.test(req.name))) {
        throw badRequest('name must be 1-100 letters, digits or ._@:-');
      }
      name = req.name ?? `${role}-${randomBytes(4).toString('hex')}`;
    }
    const replace = req.replace === true;
    const secret = generateSecret();
    const rec = await this.store.change(async (tx) => {
      const r = await tx.tokens.insert({ hash: hashToken(secret), kind, role: role as Role | 'enforcer', name, expiresAt, enforcer, replace });
      await tx.audit.append({
        actor: actor?.name ?? 'controller',
        source: actor?.source ?? null,
        action: 'token.create',
        target: name,
        diff: { id: r.id, kind, role, expiresAt: r.expiresAt, ...(kind === 'enrollment' ? { enforcer, replace } : {}) },
      });
      return r;
    });
    return { token: secret, expiresAt: rec.expiresAt, kind, role, name, id: rec.id, enforcer, replace };
  }

  async list(): Promise<TokenView[]> {
    const now = Date.now();
    return (await this.store.tokens.list()).map((t) => tokenView(t, now));
  }

  /** A token by id (digits) or by name (when one unrevoked token has it). */
  async resolve(ref: string): Promise<TokenRecord> {
    if (/^\d{1,9}$/.test(ref)) {
      const t = await this.store.tokens.get(Number(ref));
      if (!t) throw notFound(`no token with id ${ref} (cordon token list)`);
      return t;
    }
    const all = await this.store.tokens.list();
    const named = all.filter((t) => t.name === ref && !t.revoked);
    if (named.length === 0) throw notFound(`no unrevoked token is named "${ref}" (cordon token list)`);
    if (named.length > 1) throw new Problem(409, 'Conflict', `${named.length} tokens are named "${ref}" (ids ${named.map((t) => t.id).join(', ')}): revoke one by id`);
    return named[0];
  }

  /** Revokes a token (API or unused enrollment) at once; the last usable admin token cannot be revoked. */
  async revoke(ref: string, actor: Actor | null): Promise<TokenView> {
    const t = await this.resolve(ref);
    if (t.revoked) return tokenView(t);
    return this.store.change(async (tx) => {
      if (t.kind === 'api' && t.role === 'admin') {
        const now = Date.now();
        const admins = (await tx.tokens.list()).filter((x) => x.kind === 'api' && x.role === 'admin' && !x.revoked && (!x.expiresAt || Date.parse(x.expiresAt) > now));
        if (admins.length === 1 && admins[0].id === t.id) {
          throw new Problem(409, 'Conflict', `token ${t.id} ("${t.name}") is the last usable admin token: create another (cordon token create --role admin) or rotate it (cordon token rotate-admin)`);
        }
      }
      await tx.tokens.revoke(t.id);
      await tx.audit.append({ actor: actor?.name ?? 'controller', source: actor?.source ?? null, action: 'token.revoke', target: t.name, diff: { id: t.id, kind: t.kind, role: t.role } });
      return tokenView({ ...t, revoked: true });
    });
  }

  /**
   * Replaces the bootstrap admin token: the old one is revoked, the new one
   * written to DATA_DIR/admin.token (mode 0600) of this controller and returned once.
   */
  async rotateAdmin(req: { ttl?: string }, actor: Actor | null): Promise<CreatedToken & { file: string | null; revoked: number[] }> {
    const expiresAt = expiryFrom(req.ttl ?? API_DEFAULT_TTL);
    const secret = generateSecret();
    const { rec, revoked } = await this.store.change(async (tx) => {
      const revoked = await tx.tokens.revokeBootstrap();
      const rec = await tx.tokens.insert({ hash: hashToken(secret), kind: 'api', role: 'admin', name: 'admin', expiresAt, bootstrap: true });
      await tx.audit.append({ actor: actor?.name ?? 'controller', source: actor?.source ?? null, action: 'token.rotate-admin', target: 'admin', diff: { id: rec.id, revoked, expiresAt: rec.expiresAt } });
      return { rec, revoked };
    });
    const file = this.config?.dataDir ? writeAdminTokenFile(this.config.dataDir, secret) : null;
    return { token: secret, expiresAt: rec.expiresAt, kind: 'api', role: 'admin', name: 'admin', id: rec.id, enforcer: null, replace: false, file, revoked };
  }
}
