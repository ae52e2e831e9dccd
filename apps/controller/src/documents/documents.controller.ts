import { Controller, Delete, Get, HttpCode, Inject, Param, Query, Req } from '@nestjs/common';
import { ApplyService, toDocument } from '../apply/apply.service';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { parseLimit } from '../http/pagination';
import { notFound } from '../http/problem';
import { DocumentRepository } from '../store/documents.repository';
import type { StoredDocument } from '../store/store';
import { COLLECTIONS, COLLECTION_NAMES } from './kinds';

const one = COLLECTION_NAMES.map((c) => `${c}/:name`);

function collectionOf(path: string): string {
  return path.split('/').filter(Boolean)[1];
}

/** A stored document as REST returns it: the document itself plus its bookkeeping. */
export function present(d: StoredDocument) {
  return { ...toDocument(d), version: d.version, createdAt: d.createdAt, updatedAt: d.updatedAt };
}

@Controller('v1')
export class DocumentsController {
  constructor(
    @Inject(DocumentRepository) private readonly documents: DocumentRepository,
    @Inject(ApplyService) private readonly apply: ApplyService,
  ) {}

  @Get(COLLECTION_NAMES)
  async list(@Req() req: { path: string }, @Query('limit') limit?: string, @Query('cursor') cursor?: string) {
    const kind = COLLECTIONS[collectionOf(req.path)];
    const page = await this.documents.page(kind, parseLimit(limit), cursor || null);
    return { items: page.items.map(present), nextCursor: page.nextCursor };
  }

  @Get(one)
  async get(@Req() req: { path: string }, @Param('name') name: string) {
    const kind = COLLECTIONS[collectionOf(req.path)];
    const d = await this.documents.get(kind, name);
    if (!d) throw notFound(`${kind} "${name}" does not exist`);
    return present(d);
  }

  /** Recompiles without the document; refused (422) if a PolicyTest would then fail. */
  @Delete(one)
  @HttpCode(200)
  async remove(@Req() req: { path: string }, @Param('name') name: string, @CurrentActor() actor: Actor, @Query('dryRun') dryRun?: string) {
    const kind = COLLECTIONS[collectionOf(req.path)];
    return this.apply.delete(kind, name, { actor, dryRun: dryRun === 'true' || dryRun === '1' });
  }
}
