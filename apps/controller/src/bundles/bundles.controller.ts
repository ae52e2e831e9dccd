import { Controller, Get, Inject, Param } from '@nestjs/common';
import { badRequest, notFound } from '../http/problem';
import { BundleService } from './bundle.service';

@Controller('v1/bundles')
export class BundlesController {
  constructor(@Inject(BundleService) private readonly bundles: BundleService) {}

  @Get('current')
  async current() {
    const b = await this.bundles.current();
    if (!b) throw notFound('no bundle yet: apply some documents first (cordon apply -f FILE)');
    return b;
  }

  @Get(':generation')
  async get(@Param('generation') g: string) {
    const n = Number(g);
    if (!Number.isInteger(n) || n < 1) throw badRequest(`generation must be a positive integer, got "${g}"`);
    const b = await this.bundles.get(n);
    if (!b) throw notFound(`generation ${n} does not exist`);
    return b;
  }
}
