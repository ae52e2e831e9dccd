// SPDX-License-Identifier: Apache-2.0
/**
 * What each enforcer is sent (control/placement.port.ts): the view of the
 * published generation that its labels give (enforcer-view.ts), shared by
 * every enforcer with the same placement (enforcer-views.ts), and the delta
 * to it from what the enforcer holds: the store's own deltas between site
 * bundles, else the difference from a bundle recently sent.
 *
 * The view of a generation is computed from the documents published with it.
 * CurrentGeneration reads them after the bundle, so they may already be a
 * later generation's: when any document is placed and the store has moved on,
 * no view is given for this generation (the next publication gives one), so
 * that no enforcer ever holds a view built from the wrong documents.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import type { Labels } from '../../../../model/placement/labels';
import { CurrentGeneration } from '../bundles/current-generation';
import type { PlacementSource, Published } from '../control/placement.port';
import { CONFIG, LOGGER, STORE } from '../di-tokens';
import type { ControllerConfig } from '../config';
import { notFound } from '../http/problem';
import type { Document } from '../policy/schema';
import type { Store } from '../store/store';
import { anyPlaced } from './enforcer-view';
import { EnforcerViews } from './enforcer-views';
import { EnforcerLabels } from './enforcer-labels.service';

@Injectable()
export class EnforcerPlacement implements PlacementSource {
  private readonly views: EnforcerViews;
  /** The site bundles published: their deltas are the store's. */
  private readonly site = new WeakSet<Bundle>();
  /** Per published generation: whether its documents are its own (the store had not moved on when they were read). */
  private exact = new Map<number, Promise<boolean>>();

  constructor(
    @Inject(CurrentGeneration) private readonly generations: CurrentGeneration,
    @Inject(EnforcerLabels) private readonly enforcerLabels: EnforcerLabels,
    @Inject(STORE) private readonly store: Store,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) config: ControllerConfig,
  ) {
    this.views = new EnforcerViews(config.dnsResolvers ?? []);
  }

  labels(enforcer: string, reported: Labels): Observable<Labels> {
    return this.enforcerLabels.watch(enforcer, reported);
  }

  async bundleFor(published: Published, labels: Labels): Promise<Bundle | null> {
    const site = published.bundle;
    if (!site) return null;
    const docs = published.docs;
    this.site.add(site);
    if (!anyPlaced(docs)) {
      this.views.remember(site);
      return site;
    }
    if (!(await this.documentsExact(site.generation))) {
      this.log.debug({ generation: site.generation }, 'documents read with this generation are a later one\'s: waiting for its publication');
      return null;
    }
    return this.views.get(site, docs, labels);
  }

  async deltaTo(to: Bundle, base: { generation: number; hash: string }): Promise<BundleDelta | null> {
    if (this.site.has(to) && base.generation < to.generation) {
      const stored = await this.generations.deltaTo(to, base);
      if (stored) return stored;
    }
    return this.views.deltaFromKept(to, base);
  }

  /** What an enforcer holds now (cordon trace --enforcer): its labels, the view and the documents it was built from. */
  async forEnforcer(name: string): Promise<{ labels: Labels; bundle: Bundle | null; docs: readonly Document[] }> {
    const labels = await this.enforcerLabels.of(name);
    if (!labels) throw notFound(`enforcer "${name}" is not enrolled`);
    const g = await this.generations.latest();
    return { labels, bundle: await this.bundleFor(g, labels), docs: g.docs };
  }

  private documentsExact(generation: number): Promise<boolean> {
    let hit = this.exact.get(generation);
    if (!hit) {
      hit = this.store.latestGeneration().then(
        (latest) => latest <= generation,
        () => false,
      );
      this.exact = new Map([[generation, hit]]); // only the newest generation is ever asked about
    }
    return hit;
  }
}
