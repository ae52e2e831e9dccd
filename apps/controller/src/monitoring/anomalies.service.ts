// SPDX-License-Identifier: Apache-2.0
/**
 * Baselines and anomalies: each device's flows feed its baseline (detector.ts);
 * an anomaly is grouped into the device's incident (incidents.ts), stored as an
 * event, and the incident's action taken once, when it opens: a quarantine when
 * the device's segment says onAnomaly: quarantine. Incidents are written to the
 * store as they change (ids from it), so a restarted controller goes on with the
 * open ones and every controller on the database lists them. The baselines
 * themselves are in the store too (baseline-sync.ts).
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Logger } from 'pino';
import { ApplyService } from '../apply/apply.service';
import type { Actor } from '../auth/roles';
import { LOGGER } from '../di-tokens';
import { BaselineRepository } from '../store/baselines.repository';
import { IncidentRepository } from '../store/incidents.repository';
import { QuarantineRepository } from '../store/quarantine.repository';
import { BaselineSync } from './baseline-sync';
import { Anomaly, AnomalyDetector, Thresholds } from './detector';
import { summariseEvidence } from './evidence';
import type { FlowRecord } from './flow-record';
import { Incident, Incidents } from './incidents';
import { SecurityEvents } from './security-events.service';
import { segmentThresholds } from './settings';
import { SiteView } from './site-view.service';

export const MONITOR_ACTOR: Actor = { name: 'anomaly-detector', role: 'admin', tokenId: 0, source: 'controller' };

@Injectable()
export class AnomalyService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly detector: AnomalyDetector;
  /** The detector's baselines written behind to the store, loaded at start and on a device's first flow here. */
  readonly baselines: BaselineSync;
  readonly incidents = new Incidents();
  /** Incident grouping and its writes, one anomaly at a time, in order. */
  private serial: Promise<unknown> = Promise.resolve();
  /** Ids handed out when the store could not give one (never stored, never equal to a stored one). */
  private localId = 0;
  /** Thresholds per segment (its spec.monitoring over the site's), rebuilt with the view and the settings. */
  private thresholds = new Map<string, Thresholds>();

  constructor(
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(SecurityEvents) private readonly events: SecurityEvents,
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(QuarantineRepository) private readonly quarantined: QuarantineRepository,
    @Inject(IncidentRepository) readonly incidentStore: IncidentRepository,
    @Inject(BaselineRepository) baselineStore: BaselineRepository,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.detector = new AnomalyDetector(site.settings);
    this.baselines = new BaselineSync(this.detector, baselineStore, log, (list) => {
      for (const a of list) void this.raise(a);
    });
    site.onView(() => this.rebuildThresholds());
    site.onSettings((next) => {
      const opts = this.detector.options as unknown as Record<string, unknown>;
      const detectorChanged = Object.keys(opts).some((k) => JSON.stringify(opts[k]) !== JSON.stringify((next as unknown as Record<string, unknown>)[k]));
      if (detectorChanged) this.detector.reset(next);
      this.rebuildThresholds();
    });
  }

  /** The stored baselines; the open incidents of the store: their devices' next anomalies join them (their action is not taken again). */
  async onApplicationBootstrap(): Promise<void> {
    await this.baselines.start();
    try {
      // the incidents still within their window: an older one left open (its controller died) is over
      this.incidents.restore(await this.incidentStore.openSince(new Date(Date.now() - this.site.settings.incidentWindowMs).toISOString()));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not load the open incidents');
    }
  }

  /** The baselines changed since the last flush go to the store before it closes. */
  async onModuleDestroy(): Promise<void> {
    await this.baselines.stop();
  }

  /** Resolves once every incident change so far is written. */
  async settled(): Promise<void> {
    await this.serial;
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn);
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async persist(list: readonly Incident[]): Promise<void> {
    for (const inc of list) {
      if (inc.id <= 0) continue;
      try {
        await this.incidentStore.save(inc);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, incident: inc.id }, 'incident not stored');
      }
    }
  }

  private rebuildThresholds(): void {
    const m = new Map<string, Thresholds>();
    for (const [name, seg] of this.site.view.segments) {
      const spec = (seg.spec as { monitoring?: Record<string, unknown> }).monitoring;
      if (spec) m.set(name, segmentThresholds(this.site.settings, spec));
    }
    this.thresholds = m;
  }

  /** The thresholds that judge a device: its segment's, else the site's. */
  thresholdsOf(device: string): Thresholds {
    const seg = this.site.view.segmentOfDevice.get(device);
    return (seg && this.thresholds.get(seg)) || this.site.settings;
  }

  /** One flow of a device, as source or destination; anomalies found go to `out`. */
  observe(device: string, r: FlowRecord, side: 'src' | 'dst', t: number, out: Anomaly[]): void {
    // A device with no state here may have one in the store (another controller served it): judged once it is loaded.
    if (this.baselines.defer(device, (later) => this.observeNow(device, r, side, t, later))) return;
    this.observeNow(device, r, side, t, out);
  }

  private observeNow(device: string, r: FlowRecord, side: 'src' | 'dst', t: number, out: Anomaly[]): void {
    if (side === 'src') {
      const seg = this.site.view.segmentOfDevice.get(device);
      this.detector.observe(device, r, 'src', t, out, (seg && this.thresholds.get(seg)) || this.site.settings, seg);
    } else {
      this.detector.observe(device, r, 'dst', t, out, this.thresholdsOf(device));
    }
  }

  /** A tick: closes volume intervals, expires incidents, raises what they found. */
  async tick(now: number): Promise<void> {
    const out: Anomaly[] = [];
    this.detector.flush(now, out, (d) => this.thresholdsOf(d));
    const closed = this.incidents.expire(now, this.site.settings.incidentWindowMs).filter((i) => i.id > 0);
    if (closed.length) {
      const quietSince = new Date(now - this.site.settings.incidentWindowMs).toISOString();
      await this.serially(() => this.incidentStore.close(closed.map((i) => i.id), quietSince)).catch((err) => this.log.warn({ err: (err as Error).message }, 'closed incidents not stored'));
    }
    await Promise.all(out.map((a) => this.raise(a)));
  }

  /**
   * One anomaly: grouped into its device's incident, stored as an event (the
   * detail), and the incident's action taken once, when it opens.
   */
  async raise(a: Anomaly): Promise<void> {
    const view = this.site.view;
    const segment = view.segmentOfDevice.get(a.device);
    const action = view.devices.has(a.device) ? view.onAnomaly(a.device) : 'alert';
    const windowMs = this.thresholdsOf(a.device).incidentWindowMs;
    const { incident, opened } = await this.serially(async () => {
      let id: number | undefined;
      if (this.incidents.opens(a, windowMs)) {
        try {
          id = await this.incidentStore.nextId();
        } catch (err) {
          this.log.warn({ err: (err as Error).message, device: a.device }, 'no incident id from the store: this incident is kept in memory only');
          id = --this.localId;
        }
      }
      const r = this.incidents.add(a, segment ?? 'world', action, windowMs, id);
      await this.persist(r.closed ? [r.closed, r.incident] : [r.incident]);
      return r;
    });
    const ev = a.evidence as { peer?: string; port?: number; protocol?: string };
    await this.events.emit({
      at: a.at,
      type: 'anomaly',
      action: `anomaly-${a.kind.replace('_', '-')}`,
      severity: a.severity,
      message: `${a.kind} from ${a.device}: ${summariseEvidence(a)}`,
      device: a.device,
      source: { segment },
      destination: ev.peer ? { ip: ev.peer, port: ev.port } : undefined,
      data: { anomaly: { device: a.device, kind: a.kind, severity: a.severity, evidence: a.evidence, at: a.at, incident: incident.id }, onAnomaly: action },
    });
    if (opened && action === 'quarantine') {
      try {
        await this.quarantine(a.device, `incident ${incident.id}, anomaly ${a.kind}: ${summariseEvidence(a)}`, MONITOR_ACTOR);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, device: a.device }, 'anomaly quarantine failed');
      }
    }
  }

  private async quarantine(device: string, reason: string, actor: Actor): Promise<void> {
    const q = await this.quarantined.list();
    if (q.some((x) => x.device === device)) return;
    await this.apply.quarantine(device, true, { actor, reason });
  }
}
