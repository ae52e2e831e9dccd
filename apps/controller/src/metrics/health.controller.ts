import { Controller, Get, Inject, Res } from '@nestjs/common';
import { Public } from '../auth/roles';
import { BundleService } from '../bundles/bundle.service';
import type { Store } from '../store/store';
import { STORE } from '../di-tokens';
import { MetricsService } from './metrics.service';

@Controller()
@Public()
export class HealthController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  @Get('healthz')
  async health() {
    await this.store.latestGeneration();
    return { status: 'ok', store: this.store.driver, generation: this.bundles.currentGeneration };
  }

  @Get('metrics')
  async scrape(@Res() res: { setHeader(n: string, v: string): void; end(b: string): void }) {
    const body = await this.metrics.registry.metrics();
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.end(body);
  }
}
