// SPDX-License-Identifier: Apache-2.0
/**
 * The views of the generations (enforcer-view.ts), computed once per
 * generation and placement and shared by every enforcer with that placement,
 * and the bundles recently sent, so that the next one goes as a delta from
 * what an enforcer holds (a relabelled enforcer gets the difference between
 * its old and its new view of the same generation).
 */
import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import { diffBundles } from '../../../../model/generation/delta';
import type { Labels } from '../../../../model/placement/labels';
import { trimOldest } from '../../../common/src/lru';
import type { Document } from '../policy/schema';
import { placementOf, viewBundle } from './enforcer-view';

/**
 * Generations whose views are kept: the newest and the one before (enforcers
 * still catching up). Every placement of a kept generation stays, however
 * many there are (at most one per distinct enforcer label set), so a site
 * with many places never computes a view twice.
 */
const GENERATIONS_KEPT = 2;
/** Bundles kept as bases for deltas, by generation and hash. */
const BASES_MAX = 32;

export class EnforcerViews {
  /** generation:hash -> placement key -> view. */
  private readonly views = new Map<string, Map<string, Bundle>>();
  private readonly bases = new Map<string, Bundle>();

  /** `defaultResolvers`: the controller's --dns-resolver, which the site's bundles were compiled with. */
  constructor(private readonly defaultResolvers: readonly string[] = []) {}

  /** The view of `site` (compiled from `docs`) on an enforcer with `labels`. */
  get(site: Bundle, docs: readonly Document[], labels: Labels): Bundle {
    const p = placementOf(docs, labels);
    const g = `${site.generation}:${site.hash}`;
    let ofGeneration = this.views.get(g);
    if (!ofGeneration) {
      ofGeneration = new Map();
      this.views.set(g, ofGeneration);
      trimOldest(this.views, GENERATIONS_KEPT);
    }
    let v = ofGeneration.get(p.key);
    if (!v) {
      v = viewBundle(site, docs, p, this.defaultResolvers);
      ofGeneration.set(p.key, v);
    }
    this.remember(v);
    return v;
  }

  /** Keeps a bundle as a possible base of the next delta. */
  remember(b: Bundle): void {
    const k = `${b.generation}:${b.hash}`;
    this.bases.delete(k);
    this.bases.set(k, b);
    trimOldest(this.bases, BASES_MAX);
  }

  /** The delta from a bundle kept here to `to`; null when the base is not kept (or names no hash). */
  deltaFromKept(to: Bundle, base: { generation: number; hash: string }): BundleDelta | null {
    if (base.hash === '' || base.generation > to.generation) return null;
    const from = this.bases.get(`${base.generation}:${base.hash}`);
    return from ? diffBundles(from, to) : null;
  }
}
