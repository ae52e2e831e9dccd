import { Body, Controller, Get, HttpCode, Inject, Optional, Param, Post } from '@nestjs/common';
import { CurrentActor } from '../auth/actor.decorator';
import { MinRole, type Actor } from '../auth/roles';
import { ControlService } from '../control/control.service';
import { badRequest } from '../http/problem';
import { CA_HASH_PREFIX, caCertSha256, formatJoin } from '../../../../proto/cordon/v1/join';
import { TokensService, type CreateTokenRequest } from './tokens.service';

@Controller('v1/tokens')
@MinRole('admin')
export class TokensController {
  constructor(
    @Inject(TokensService) private readonly tokens: TokensService,
    @Optional() @Inject(ControlService) private readonly control?: ControlService,
  ) {}

  /**
   * `{role}` → API token; `{kind: "enrollment", ttl, name?, replace?}` → one-time enforcer
   * enrollment token, with the CA pin (caCertHash) and the join string the enforcer takes.
   */
  @Post()
  async create(@Body() body: unknown, @CurrentActor() actor: Actor) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('send {"role": "viewer"} or {"kind": "enrollment", "ttl": "1h"}');
    const t = await this.tokens.create(body as CreateTokenRequest, actor);
    const out = { token: t.token, expiresAt: t.expiresAt, id: t.id, kind: t.kind, role: t.role, name: t.name };
    if (t.kind !== 'enrollment') return out;
    const caPem = this.control?.caPem;
    const caHex = caPem ? caCertSha256(caPem) : null;
    return { ...out, enforcer: t.enforcer, replace: t.replace, caCertHash: caHex ? CA_HASH_PREFIX + caHex : null, join: caHex ? formatJoin(t.token, caHex) : null };
  }

  /** Metadata only (state, expiry, last use); secrets are shown once, at creation. */
  @Get()
  async list() {
    return { items: await this.tokens.list(), nextCursor: null };
  }

  /** Revokes a token by id (or by name, when one unrevoked token has it): refused from the next request on. */
  @Post(':ref/revoke')
  @HttpCode(200)
  revoke(@Param('ref') ref: string, @CurrentActor() actor: Actor) {
    return this.tokens.revoke(ref, actor);
  }

  /** A new bootstrap admin token (written to DATA_DIR/admin.token); the previous one is revoked. */
  @Post('rotate-admin')
  @HttpCode(200)
  async rotateAdmin(@Body() body: unknown, @CurrentActor() actor: Actor) {
    const ttl = body && typeof body === 'object' && !Array.isArray(body) ? (body as { ttl?: string }).ttl : undefined;
    const r = await this.tokens.rotateAdmin({ ttl }, actor);
    return { token: r.token, expiresAt: r.expiresAt, id: r.id, file: r.file, revoked: r.revoked };
  }
}
