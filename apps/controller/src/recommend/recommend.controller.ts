// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
/** The bit of Express's response used here (no @types/express in the tree). */
type Response = { type(contentType: string): unknown };
import { badRequest } from '../http/problem';
import { MonitoringService } from '../monitoring/monitoring.service';
import { SiteView } from '../monitoring/site-view.service';
import { durationMs } from '../monitoring/posture';
import { recommend } from './recommend';
import { unusedRules } from './unused';

function windowMs(w: string | undefined, dflt: string): number {
  try {
    return durationMs(w || dflt);
  } catch (err) {
    throw badRequest(`window: ${(err as Error).message}`);
  }
}

@Controller('v1')
export class RecommendController {
  constructor(
    @Inject(MonitoringService) private readonly monitoring: MonitoringService,
    @Inject(SiteView) private readonly site: SiteView,
  ) {}

  /** Policies allowing exactly the flows observed (allow and audit verdicts; `includeDenied=true` adds policy denials). */
  @Get('recommend')
  recommend(@Res({ passthrough: true }) res: Response, @Query('window') window?: string, @Query('includeDenied') includeDenied?: string, @Query('format') format?: string) {
    const since = Date.now() - windowMs(window, '7d');
    const view = this.site.view;
    const flows = this.monitoring.observed.list(since).filter((f) => f.verdict !== 'deny' || includeDenied === 'true');
    const r = recommend(flows, { segments: new Set(view.segments.keys()) });
    if (format === 'yaml') {
      res.type('application/yaml');
      return r.yaml;
    }
    return { ...r, observedSince: new Date(Math.max(this.monitoring.observed.observedSince, since)).toISOString() };
  }

  @Get('report/unused')
  unused(@Query('window') window?: string) {
    const since = Date.now() - windowMs(window, '7d');
    const view = this.site.view;
    const items = unusedRules(view.bundle?.rules ?? [], this.monitoring.observed.ruleUses(), view.docs, since);
    return {
      items,
      window: window || '7d',
      generation: view.bundle?.generation ?? 0,
      // What the answer can know: flows seen since the site began observing (the store's, else this controller's start).
      observedSince: new Date(Math.max(this.monitoring.observed.observedSince, since)).toISOString(),
    };
  }
}
