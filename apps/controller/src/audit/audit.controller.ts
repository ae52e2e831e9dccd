import { Controller, Get, HttpCode, Inject, Post, Query, Res } from '@nestjs/common';
import { MinRole } from '../auth/roles';
import { parseLimit } from '../http/pagination';
import { badRequest } from '../http/problem';
import { AuditService } from './audit.service';

interface StreamingResponse {
  setHeader(name: string, value: string): void;
  write(chunk: string): boolean;
  end(): void;
  once(ev: 'drain', cb: () => void): void;
}

@Controller('v1/audit')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  page(@Query('limit') limit?: string, @Query('cursor') cursor?: string) {
    if (cursor !== undefined && cursor !== '' && !/^\d+$/.test(cursor)) throw badRequest('cursor must be the nextCursor of a previous page');
    return this.audit.page(parseLimit(limit), cursor);
  }

  /** Every entry, oldest first, one JSON object per line (for a SIEM). */
  @Get('export')
  async export(@Res() res: StreamingResponse) {
    res.setHeader('Content-Type', 'application/x-ndjson');
    await this.audit.export(async (e) => {
      if (!res.write(JSON.stringify(e) + '\n')) await new Promise<void>((r) => res.once('drain', r));
    });
    res.end();
  }

  /** Walks the chain; reports the first altered, removed or reordered entry. Read-only. */
  @Post('verify')
  @HttpCode(200)
  @MinRole('viewer')
  verify() {
    return this.audit.verify();
  }
}
