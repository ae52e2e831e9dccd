import { Body, Controller, Get, Inject, Post } from '@nestjs/common';
import { CurrentActor } from '../auth/actor.decorator';
import { MinRole, type Actor } from '../auth/roles';
import { badRequest } from '../http/problem';
import type { Store } from '../store/store';
import { STORE } from '../tokens';
import { TokensService, type CreateTokenRequest } from './tokens.service';

@Controller('v1/tokens')
@MinRole('admin')
export class TokensController {
  constructor(
    @Inject(TokensService) private readonly tokens: TokensService,
    @Inject(STORE) private readonly store: Store,
  ) {}

  /** `{role}` → API token; `{kind: "enrollment", ttl}` → one-time enforcer enrollment token. */
  @Post()
  async create(@Body() body: unknown, @CurrentActor() actor: Actor) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('send {"role": "viewer"} or {"kind": "enrollment", "ttl": "1h"}');
    const t = await this.tokens.create(body as CreateTokenRequest, actor);
    return { token: t.token, expiresAt: t.expiresAt, kind: t.kind, role: t.role, name: t.name };
  }

  /** Metadata only; secrets are shown once, at creation. */
  @Get()
  async list() {
    return { items: await this.store.listTokens(), nextCursor: null };
  }
}
