// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { badRequest } from '../http/problem';
import { PlaintextService } from './plaintext.service';

@Controller('v1')
export class PlaintextController {
  constructor(@Inject(PlaintextService) private readonly plaintext: PlaintextService) {}

  /**
   * Share of flows and bytes sent in clear, per source device and per source
   * segment, since the site began counting (the store keeps them); devices most in clear first.
   * `segment` and `device` filter, `limit` caps the device list.
   */
  @Get('report/plaintext')
  report(@Query('segment') segment?: string, @Query('device') device?: string, @Query('limit') limit?: string) {
    let n: number | undefined;
    if (limit !== undefined && limit !== '') {
      n = Number(limit);
      if (!Number.isInteger(n) || n < 0 || n > 100_000) throw badRequest(`limit: "${limit}" is not a whole number from 0 to 100000`);
    }
    return this.plaintext.stats.report({ segment: segment || undefined, device: device || undefined, limit: n });
  }
}
