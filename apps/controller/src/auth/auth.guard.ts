import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Problem } from '../http/problem';
import type { Role } from '../store/types';
import { TokensService } from '../tokens/tokens.service';
import { Actor, MIN_ROLE, PUBLIC, ROLE_RANK } from './roles';

interface Req {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  ip?: string;
  socket?: { remoteAddress?: string };
  actor?: Actor;
}

/** Bearer tokens: 401 without a valid one, 403 when its role is below the route's. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokensService) private readonly tokens: TokensService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const req = ctx.switchToHttp().getRequest<Req>();
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw unauthorized('send an API token as "Authorization: Bearer TOKEN" (cordon token create --role viewer)');
    const token = await this.tokens.authenticate(m[1]);
    if (!token) throw unauthorized('the token is unknown, expired or revoked');
    const need: Role = this.reflector.getAllAndOverride<Role>(MIN_ROLE, targets) ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'operator');
    const role = token.role as Role;
    if (ROLE_RANK[role] < ROLE_RANK[need]) {
      throw new Problem(403, 'Forbidden', `this needs the ${need} role; token "${token.name}" has ${role}`);
    }
    req.actor = { name: token.name, role, tokenId: token.id, source: req.ip ?? req.socket?.remoteAddress ?? null };
    return true;
  }
}

function unauthorized(detail: string): Problem {
  return new Problem(401, 'Unauthorized', detail);
}
