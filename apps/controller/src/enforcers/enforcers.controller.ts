import { Controller, Get, Inject, Param } from '@nestjs/common';
import { notFound } from '../http/problem';
import { FleetService } from './fleet.service';

/** Enrolled enforcers with their fleet status (fleet-row.ts): connected where, in sync, version, certificate expiry, map fill. */
@Controller('v1/enforcers')
export class EnforcersController {
  constructor(@Inject(FleetService) private readonly fleet: FleetService) {}

  @Get()
  async list() {
    return { items: await this.fleet.list(), nextCursor: null };
  }

  @Get(':name')
  async get(@Param('name') name: string) {
    const e = await this.fleet.get(name);
    if (!e) throw notFound(`enforcer "${name}" is not enrolled`);
    return e;
  }
}
