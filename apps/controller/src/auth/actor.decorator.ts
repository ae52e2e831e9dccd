import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Actor } from './roles';

/** The authenticated caller (set by AuthGuard). */
export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const req = ctx.switchToHttp().getRequest<{ actor?: Actor }>();
  return req.actor ?? { name: 'anonymous', role: 'viewer', tokenId: 0, source: null };
});
