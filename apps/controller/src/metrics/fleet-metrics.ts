// SPDX-License-Identifier: Apache-2.0
/**
 * Per-enforcer metrics of the fleet status (enforcers/fleet.service.ts), one
 * series per enrolled, unrevoked enforcer and no other label, so they are
 * bounded by the enforcer count; a revoked enforcer's series go at the next
 * scrape. Read from the shared store, so every controller of a site exposes
 * the same values:
 *   cordon_enforcer_connected{enforcer}  1 when its bundle stream is open on
 *     any controller of the site (cordon_enforcers_connected counts this one's);
 *   cordon_enforcer_generation{enforcer} the generation it enforces (0: none);
 *   cordon_enforcer_in_sync{enforcer}    1 when that is the site's current one;
 *   cordon_enforcer_map_fill_ratio{enforcer} its fullest datapath map, 0..1;
 *   cordon_enforcer_certificate_expiry_timestamp_seconds{enforcer} its certificate's notAfter, Unix seconds.
 */
import { Inject, Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { FleetService } from '../enforcers/fleet.service';
import type { FleetRow } from '../enforcers/fleet-row';
import { MetricsService } from './metrics.service';

/**
 * One store read serves every gauge of a scrape: the first gauge registered
 * (prom-client collects in that order) reads afresh, the others take that read
 * when it is this recent.
 */
const SNAPSHOT_MS = 1000;

@Injectable()
export class FleetMetrics {
  private snapshot: { at: number; rows: Promise<FleetRow[]> } | null = null;

  constructor(
    @Inject(FleetService) private readonly fleet: FleetService,
    @Inject(MetricsService) metrics: MetricsService,
  ) {
    let first = true;
    const gauge = (name: string, help: string, value: (r: FleetRow) => number | null) => {
      const fresh = first;
      first = false;
      const rows = () => this.rows(fresh);
      new Gauge({
        name,
        help,
        labelNames: ['enforcer'],
        registers: [metrics.registry],
        async collect() {
          const live = await rows();
          this.reset();
          for (const r of live) {
            const v = value(r);
            if (v !== null) this.set({ enforcer: r.name }, v);
          }
        },
      });
    };
    gauge('cordon_enforcer_connected', 'Whether the enforcer\'s bundle stream is open on a controller of the site (1) or not (0)', (r) => (r.connected ? 1 : 0));
    gauge('cordon_enforcer_generation', 'The policy generation the enforcer enforces (0: none yet)', (r) => r.generation ?? 0);
    gauge('cordon_enforcer_in_sync', 'Whether the enforcer enforces the site\'s current generation (1) or not (0)', (r) => (r.inSync ? 1 : 0));
    gauge('cordon_enforcer_map_fill_ratio', 'Fill of the enforcer\'s fullest datapath map, entries over capacity', (r) => (r.mapFill ? r.mapFill.entries / r.mapFill.max : null));
    gauge('cordon_enforcer_certificate_expiry_timestamp_seconds', 'When the enforcer\'s certificate expires, Unix time in seconds', (r) => (r.certExpiresAt ? Date.parse(r.certExpiresAt) / 1000 : null));
  }

  /** The unrevoked enforcers' rows, read once per scrape (`fresh`: read now). */
  private rows(fresh: boolean): Promise<FleetRow[]> {
    const now = Date.now();
    if (fresh || !this.snapshot || now - this.snapshot.at > SNAPSHOT_MS) {
      const rows = this.fleet.list().then((all) => all.filter((r) => !r.revoked));
      rows.catch(() => (this.snapshot = null));
      this.snapshot = { at: now, rows };
    }
    return this.snapshot.rows;
  }
}
