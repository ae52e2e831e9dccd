// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { ApplyService } from '../apply/apply.service';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { Problem } from '../http/problem';
import { stringify } from 'yaml';
import { importMud, MudImportError } from './mud';

@Controller('v1/mud')
export class MudController {
  constructor(@Inject(ApplyService) private readonly apply: ApplyService) {}

  /** `{"mud": {...} | "json text", "name"?: "...", "apply"?: false, "file"?: "..."}`: documents, and with apply the result. */
  @Post('import')
  @HttpCode(200)
  async import(@Body() body: { mud?: unknown; name?: unknown; apply?: unknown; file?: unknown } | undefined, @CurrentActor() actor: Actor) {
    const file = typeof body?.file === 'string' ? body.file : 'mud';
    let r;
    try {
      r = importMud(body?.mud, { name: typeof body?.name === 'string' ? body.name : undefined });
    } catch (err) {
      if (err instanceof MudImportError) {
        throw new Problem(400, 'Invalid MUD file', `${err.issues.length} part(s) of ${file} cannot be imported; nothing was changed`, {
          issues: err.issues.map((i) => ({ file, path: `${i.where}: ${i.field}`, message: i.message })),
        });
      }
      throw err;
    }
    const yaml = r.documents.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
    const result = await this.apply.apply(r.documents, { dryRun: body?.apply !== true, actor, source: file });
    return { ...r, yaml, result };
  }
}
