// SPDX-License-Identifier: Apache-2.0
/**
 * GET /v1/flows/stream: the flows of GET /v1/flows as server-sent events, as
 * the controller receives them (flows/flow-stream.ts says what is sent and how
 * it is capped). Authenticated like every call (a viewer token is enough), so
 * a browser reads it with fetch() and an Authorization header, not EventSource.
 */
import { Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { badRequest } from '../http/problem';
import { flowQueryOf } from './flow-params';
import { FlowStreamService, type StreamResponse } from './flow-stream.service';
import { CURSOR } from './flows/flow-stream';

interface StreamRequest {
  headers: Record<string, string | string[] | undefined>;
}
interface SseResponse extends StreamResponse {
  writeHead(status: number, headers: Record<string, string>): void;
  flushHeaders?(): void;
  socket?: { setNoDelay?(on: boolean): void } | null;
  /** The response ended or its connection was cut (the client went away). */
  on(event: 'close', fn: () => void): void;
}

@Controller('v1')
export class FlowStreamController {
  constructor(@Inject(FlowStreamService) private readonly streams: FlowStreamService) {}

  /**
   * Server-sent events: `ready` (the cursor it starts from), `flows` (rows oldest first, the event id is the
   * cursor after them), `aggregate` (flows beyond the rate cap or while the client was slow, counted by segment
   * pair and verdict) and `: keep-alive` comments. Resume with `Last-Event-ID` (or `after=`) set to the last id.
   */
  @Get('flows/stream')
  stream(@Query() params: Record<string, string | string[]>, @Req() req: StreamRequest, @Res() res: SseResponse, @CurrentActor() actor: Actor) {
    const { after: queryAfter, limit: _limit, ...filters } = params ?? {};
    const q = flowQueryOf(filters);
    const header = req.headers['last-event-id'];
    const after = (typeof header === 'string' && header) || (typeof queryAfter === 'string' && queryAfter) || undefined;
    if (after !== undefined && !CURSOR.test(after)) throw badRequest(`after (or Last-Event-ID) must be a cursor of GET /v1/flows or an event id of this stream, got "${after.slice(0, 40)}"`);
    this.streams.admit(actor.tokenId);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    res.socket?.setNoDelay?.(true);
    const close = this.streams.start(actor.tokenId, q, after, res);
    res.on('close', close);
  }
}
