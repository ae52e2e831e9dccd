import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Subscription } from 'rxjs';
import { BundleService } from '../bundles/bundle.service';
import type { Store } from '../store/store';
import { STORE } from '../di-tokens';
import { KINDS } from '../policy/schema';
import { SHARED_HELP, registerBuildInfo } from '../../../common/src/metric-catalog';

/** One registry per controller instance (tests run several in one process). */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();
  readonly generation = new Gauge({ name: 'cordon_policy_generation', help: SHARED_HELP.cordon_policy_generation, registers: [this.registry] });
  readonly applyDuration = new Histogram({
    name: 'cordon_apply_duration_seconds',
    help: 'Time to validate, compile, test and store an apply (or delete)',
    labelNames: ['result'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly siteLoads = new Counter({
    name: 'cordon_site_loads_total',
    help: 'Times a change found the site changed by another controller (or not yet loaded) and read it from the store: incremental (by the documents that differ) or full (compiled afresh)',
    labelNames: ['how'],
    registers: [this.registry],
  });
  private sub?: Subscription;

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(BundleService) private readonly bundles: BundleService,
  ) {
    const store_ = this.store;
    new Gauge({
      name: 'cordon_documents',
      help: 'Stored policy documents by kind',
      labelNames: ['kind'],
      registers: [this.registry],
      async collect() {
        const counts = await store_.documents.count();
        for (const k of KINDS) this.set({ kind: k }, counts[k] ?? 0);
      },
    });
    // Stock names (process_*, nodejs_*): the Node.js dashboards and alerts people already have use them.
    collectDefaultMetrics({ register: this.registry });
    registerBuildInfo(this.registry, 'controller');
  }

  onModuleInit() {
    this.sub = this.bundles.generation$.subscribe((g) => this.generation.set(g));
  }

  onModuleDestroy() {
    this.sub?.unsubscribe();
  }
}
