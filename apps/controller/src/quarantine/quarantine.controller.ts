import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApplyService } from '../apply/apply.service';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { badRequest } from '../http/problem';
import { QuarantineRepository } from '../store/quarantine.repository';

@Controller('v1/quarantine')
export class QuarantineController {
  constructor(
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(QuarantineRepository) private readonly quarantine: QuarantineRepository,
  ) {}

  @Get()
  async list() {
    return { items: await this.quarantine.list(), nextCursor: null };
  }

  @Post()
  @HttpCode(200)
  add(@Body() body: { device?: unknown; reason?: unknown } | undefined, @CurrentActor() actor: Actor) {
    if (typeof body?.device !== 'string' || !body.device) throw badRequest('send {"device": "NAME", "reason": "..."}');
    return this.apply.quarantine(body.device, true, { actor, reason: typeof body.reason === 'string' ? body.reason : undefined });
  }

  @Delete(':device')
  @HttpCode(200)
  release(@Param('device') device: string, @CurrentActor() actor: Actor) {
    return this.apply.quarantine(device, false, { actor });
  }
}
