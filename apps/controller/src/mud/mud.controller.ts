// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApplyService } from '../apply/apply.service';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { badRequest, Problem } from '../http/problem';
import { stringify } from 'yaml';
import { MudImportError } from './mud';
import { MudManager } from './mud-manager.service';

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

function controllersOf(v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((s) => typeof s !== 'string')) throw badRequest('controllers is {"URI": "SEGMENT", ...}');
  return v as Record<string, string>;
}

@Controller('v1/mud')
export class MudController {
  constructor(
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(MudManager) private readonly manager: MudManager,
  ) {}

  /**
   * `{"mud": {...} | "json text"} | {"url": "https://..."}`, with `name`, `apply`, `file`,
   * `controllers` ({URI: SEGMENT}): the documents, and with apply the result.
   */
  @Post('import')
  @HttpCode(200)
  async import(@Body() body: { mud?: unknown; url?: unknown; name?: unknown; apply?: unknown; file?: unknown; controllers?: unknown } | undefined, @CurrentActor() actor: Actor) {
    const url = str(body?.url);
    const file = str(body?.file) ?? url ?? 'mud';
    let mud = body?.mud;
    let signedBy: string | null = null;
    if (url) {
      try {
        const f = await this.manager.fetch(url);
        mud = f.mud;
        signedBy = f.signedBy;
      } catch (err) {
        throw new Problem(400, 'Invalid MUD file', `${(err as Error).message}; nothing was changed`);
      }
    }
    let r;
    try {
      r = await this.manager.translate(mud, { file, name: str(body?.name), controllers: controllersOf(body?.controllers) });
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
    return { ...r, signedBy, yaml, result };
  }

  /** A device's MUD URL, as a DHCP server hook or an enforcer reports it: `{"url", "mac"?, "address"?, "source"?}`. */
  @Post('announce')
  @HttpCode(200)
  announce(@Body() body: { url?: unknown; mac?: unknown; address?: unknown; source?: unknown } | undefined, @CurrentActor() actor: Actor) {
    return this.manager.announce({ url: body?.url as string, mac: str(body?.mac) ?? null, address: str(body?.address) ?? null, source: str(body?.source) ?? 'api' }, actor);
  }

  /** Proposals waiting for review, and those that failed (with why); `?all=true` adds the applied ones. */
  @Get('pending')
  async pending(@Query('all') all?: string) {
    return { items: await this.manager.list(all === 'true') };
  }

  @Post('approve/:device')
  @HttpCode(200)
  approve(@Param('device') device: string, @CurrentActor() actor: Actor) {
    return this.manager.approve(device, actor);
  }
}
