// SPDX-License-Identifier: Apache-2.0
/**
 * What the bundle stream needs to send each enforcer only what applies where
 * it runs (apps/controller/src/placement/ implements it). Without it every
 * enforcer gets the site's bundle.
 */
import type { Observable } from 'rxjs';
import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import type { Labels } from '../../../../model/placement/labels';
import type { Published } from './control.ports';

export type { Published };

export const PLACEMENT_SOURCE = Symbol('PLACEMENT_SOURCE');

export interface PlacementSource {
  /** Stores the labels an enforcer reports, then gives its labels (with the controller's overrides) and each later change. */
  labels(enforcer: string, reported: Labels): Observable<Labels>;
  /**
   * The bundle an enforcer with these labels holds of a published generation
   * (the site's own when nothing is left out there); null when it cannot be
   * told yet (the next publication will).
   */
  bundleFor(published: Published, labels: Labels): Promise<Bundle | null>;
  /** A delta from what an enforcer holds to `to`; null: send `to` whole. */
  deltaTo(to: Bundle, base: { generation: number; hash: string }): Promise<BundleDelta | null>;
}
