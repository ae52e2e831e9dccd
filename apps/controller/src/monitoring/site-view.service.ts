// SPDX-License-Identifier: Apache-2.0
/**
 * What monitoring knows of the site, shared by discovery, anomalies and
 * posture: the settings (flags, environment, PUT /v1/monitoring/settings), the
 * policy as of the newest generation (devices, segments, rules), when each
 * generation was announced, and when each device last sent or received a flow.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CurrentGeneration } from '../bundles/current-generation';
import { GenerationView } from '../bundles/generation-view';
import { CONFIG } from '../di-tokens';
import { applyPatch, initialSettings, MonitoringSettings } from './settings';

@Injectable()
export class SiteView {
  settings: MonitoringSettings;
  view = new GenerationView([], null);
  /** The generation `view` was built from (-1 before the first). */
  generation = -1;
  /** Last flow seen per device (ms), for posture's lastSeenWithin. */
  readonly lastSeen = new Map<string, number>();
  /** Generation announced → the time it was announced (posture latency measures from it). */
  readonly announcedAt = new Map<number, number>();
  /** Called with the new settings after each change (detectors, timers). */
  private readonly settingsListeners: Array<(next: MonitoringSettings, before: MonitoringSettings) => void> = [];
  /** Called after each new view. */
  private readonly viewListeners: Array<(view: GenerationView) => void> = [];

  constructor(
    @Inject(CONFIG) config: Record<string, unknown>,
    /** The view is published once per generation there (bundles/), not rebuilt here. */
    @Inject(CurrentGeneration) private readonly generations: CurrentGeneration,
  ) {
    this.settings = initialSettings(config ?? {});
  }

  onSettings(f: (next: MonitoringSettings, before: MonitoringSettings) => void): void {
    this.settingsListeners.push(f);
  }

  onView(f: (view: GenerationView) => void): void {
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

  /** Takes the newest published view when the generation moved. */
  async refresh(): Promise<void> {
    const view = await this.generations.latest();
    if (view.generation === this.generation) return;
    this.view = view;
    this.generation = view.generation;
    for (const f of this.viewListeners) f(this.view);
  }
}
