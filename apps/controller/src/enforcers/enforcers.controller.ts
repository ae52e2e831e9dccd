import { Controller, Get, Inject, Param } from '@nestjs/common';
import { notFound } from '../http/problem';
import type { Store } from '../store/store';
import { STORE } from '../tokens';

@Controller('v1/enforcers')
export class EnforcersController {
  constructor(@Inject(STORE) private readonly store: Store) {}

  @Get()
  async list() {
    return { items: await this.store.listEnforcers(), nextCursor: null };
  }

  @Get(':name')
  async get(@Param('name') name: string) {
    const e = await this.store.getEnforcer(name);
    if (!e) throw notFound(`enforcer "${name}" is not enrolled`);
    return e;
  }
}
