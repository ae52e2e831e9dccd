import { Controller, Get, Inject, Param } from '@nestjs/common';
import { notFound } from '../http/problem';
import { EnforcerRepository } from '../store/enforcers.repository';

@Controller('v1/enforcers')
export class EnforcersController {
  constructor(@Inject(EnforcerRepository) private readonly enforcers: EnforcerRepository) {}

  @Get()
  async list() {
    return { items: await this.enforcers.list(), nextCursor: null };
  }

  @Get(':name')
  async get(@Param('name') name: string) {
    const e = await this.enforcers.get(name);
    if (!e) throw notFound(`enforcer "${name}" is not enrolled`);
    return e;
  }
}
