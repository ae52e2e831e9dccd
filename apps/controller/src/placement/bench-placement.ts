// SPDX-License-Identifier: Apache-2.0
/**
 * What a per-enforcer view costs at site scale (the bench runner calls it):
 * the 1,000-segment, 10,000-policy site with every tenth segment and policy
 * placed at `site: plant-1`; the view of an enforcer at plant 2 (what it
 * leaves out: 100 segments and 1,000 policies, whose pairs are compiled
 * again), with segments placed only, and at plant 1 (nothing left out: the
 * site's own bundle). Each view is computed once per generation and placement.
 */
import type { Document } from '../policy/schema';
import { makeScaleDocs, SITE_SCALE } from '../compiler/bench-compile';
import { compile } from '../compiler/compile';
import { placementOf, viewBundle } from './enforcer-view';

export interface PlacementBench {
  siteIpcache: number;
  sitePolicy: number;
  /** Plant 2: segments and policies left out. */
  viewMs: number;
  viewIpcache: number;
  viewPolicy: number;
  /** Plant 2 with only segments placed: no compilation, entries filtered. */
  segmentsOnlyViewMs: number;
  /** Plant 1: nothing left out, the site bundle itself. */
  unplacedViewMs: number;
}

export function benchPlacement(): PlacementBench {
  const docs = makeScaleDocs(SITE_SCALE) as Document[];
  let n = 0;
  for (const d of docs) if ((d.kind === 'Segment' || d.kind === 'Policy') && n++ % 10 === 0) d.spec.enforcers = { site: 'plant-1' };
  const site = compile(docs, { identities: {}, generation: 1 });
  const time = <T>(fn: () => T): [T, number] => {
    const t = performance.now();
    const r = fn();
    return [r, Math.round(performance.now() - t)];
  };
  const [view, viewMs] = time(() => viewBundle(site, docs, placementOf(docs, { site: 'plant-2' })));
  const [, unplacedViewMs] = time(() => viewBundle(site, docs, placementOf(docs, { site: 'plant-1' })));
  for (const d of docs) if (d.kind === 'Policy') delete d.spec.enforcers;
  const [, segmentsOnlyViewMs] = time(() => viewBundle(site, docs, placementOf(docs, { site: 'plant-2' })));
  return { siteIpcache: site.ipcache.length, sitePolicy: site.policy.length, viewMs, viewIpcache: view.ipcache.length, viewPolicy: view.policy.length, segmentsOnlyViewMs, unplacedViewMs };
}

if (require.main === module) {
  console.log(JSON.stringify(benchPlacement()));
}
