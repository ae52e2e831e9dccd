// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { parseGrantRequest } from './grant';
import { GrantsService } from './grants.service';

/** Temporary access: POST and DELETE need an operator (the guard's default), GET a viewer. */
@Controller('v1/grants')
export class GrantsController {
  constructor(@Inject(GrantsService) private readonly grants: GrantsService) {}

  @Get()
  async list() {
    return { items: await this.grants.list() };
  }

  /** `{from, to, protocol, port?, for: "2h", reason, name?}`: a Policy open from now for that long. */
  @Post()
  @HttpCode(201)
  create(@Body() body: Record<string, unknown> | undefined, @CurrentActor() actor: Actor) {
    return this.grants.create(parseGrantRequest(body), actor);
  }

  @Delete(':name')
  @HttpCode(200)
  revoke(@Param('name') name: string, @CurrentActor() actor: Actor) {
    return this.grants.revoke(name, actor);
  }
}
