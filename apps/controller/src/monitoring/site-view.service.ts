// SPDX-License-Identifier: Apache-2.0
/**
 * What monitoring knows of the site, shared by discovery, anomalies and
 * posture: the settings (flags, environment, PUT /v1/monitoring/settings), the
 * policy as of the newest generation (devices, segments, rules), when each
 * generation was announced, and when each device last sent or received a flow.
 */
import { Inject, Injectable } from '@nestjs/common';
import { toDocument } from '../apply/apply.service';
import type { Bundle } from '../compiler/compile';
import { CONFIG, STORE } from '../di-tokens';
import { DocumentRepository } from '../store/documents.repository';
import type { StoreReader } from '../store/store';
import { applyPatch, initialSettings, MonitoringSettings } from './settings';
import { PolicyView } from './view';

@Injectable()
export class SiteView {
  settings: MonitoringSettings;
  view = new PolicyView([], null);
  /** The generation `view` was built from (-1 before the first). */
  generation = -1;
  /** Last flow seen per device (ms), for posture's lastSeenWithin. */
  readonly lastSeen = new Map<string, number>();
  /** Generation announced → the time it was announced (posture latency measures from it). */
  readonly announcedAt = new Map<number, number>();
  /** Called with the new settings after each change (detectors, timers). */
  private readonly settingsListeners: Array<(next: MonitoringSettings, before: MonitoringSettings) => void> = [];
  /** Called after each new view. */
  private readonly viewListeners: Array<(view: PolicyView) => void> = [];

  constructor(
    @Inject(CONFIG) config: Record<string, unknown>,
    @Inject(DocumentRepository) private readonly documents: DocumentRepository,
    /** For the newest generation's bundle (the store's bundle methods). */
    @Inject(STORE) private readonly bundles: Pick<StoreReader, 'latestGeneration' | 'latestBundle'>,
  ) {
    this.settings = initialSettings(config ?? {});
  }

  onSettings(f: (next: MonitoringSettings, before: MonitoringSettings) => void): void {
    this.settingsListeners.push(f);
  }

  onView(f: (view: PolicyView) => void): void {
    this.viewListeners.push(f);
  }

  updateSettings(patch: unknown): MonitoringSettings {
    const before = this.settings;
    const next = applyPatch(before, patch);
    this.settings = next;
    for (const f of this.settingsListeners) f(next, before);
    return next;
  }

  noteAnnounced(generation: number): void {
    if (!this.announcedAt.has(generation)) this.announcedAt.set(generation, Date.now());
    if (this.announcedAt.size > 64) this.announcedAt.delete(this.announcedAt.keys().next().value as number);
  }

  noteSeen(device: string, t: number): void {
    this.lastSeen.set(device, Math.max(this.lastSeen.get(device) ?? 0, t));
  }

  /** Rebuilds the view when the generation moved. */
  async refresh(): Promise<void> {
    const gen = await this.bundles.latestGeneration();
    if (gen === this.generation) return;
    const rows = await this.documents.list();
    const latest = await this.bundles.latestBundle();
    const since = new Map(rows.filter((d) => d.kind === 'Device').map((d) => [d.name, Date.parse(d.updatedAt)]));
    this.view = new PolicyView(rows.map(toDocument), (latest?.bundle as Bundle | undefined) ?? null, since);
    this.generation = gen;
    for (const f of this.viewListeners) f(this.view);
  }
}
