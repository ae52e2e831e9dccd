import { Body, Controller, HttpCode, Inject, Post, Query, Req } from '@nestjs/common';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { badRequest } from '../http/problem';
import { ApplyService } from './apply.service';

const YAML_TYPES = /^(application|text)\/(x-)?yaml\b/i;

@Controller('v1/apply')
export class ApplyController {
  constructor(@Inject(ApplyService) private readonly apply: ApplyService) {}

  /**
   * `{"documents": [...], "dryRun": false}` as JSON, or a YAML stream with
   * Content-Type application/yaml (dry run then by `?dryRun=true`).
   */
  @Post()
  @HttpCode(200)
  async post(@Body() body: unknown, @Req() req: { headers: Record<string, string | undefined> }, @CurrentActor() actor: Actor, @Query('dryRun') q?: string) {
    const queryDry = q === 'true' || q === '1';
    if (YAML_TYPES.test(req.headers['content-type'] ?? '')) {
      if (typeof body !== 'string' || !body.trim()) throw badRequest('the YAML body is empty');
      return this.apply.apply(body, { dryRun: queryDry, actor, source: 'request' });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest('send {"documents": [...], "dryRun": false} as application/json, or YAML as application/yaml');
    }
    const { documents, dryRun } = body as { documents?: unknown; dryRun?: unknown };
    if (!Array.isArray(documents)) throw badRequest('"documents" must be an array of policy documents');
    if (dryRun !== undefined && typeof dryRun !== 'boolean') throw badRequest('"dryRun" must be true or false');
    return this.apply.apply(documents, { dryRun: dryRun ?? queryDry, actor });
  }
}
