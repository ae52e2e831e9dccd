// SPDX-License-Identifier: Apache-2.0
/**
 * Posture and quarantine: after every new generation and every tick, evaluates
 * each Device against the PostureRules that select it. A failure of a rule with
 * onFailure: quarantine moves the device to the quarantine identity through
 * ApplyService.quarantine (validated, compiled, a new generation, audited); a
 * device that complies again is released, but only when posture put it there:
 * an operator's (or the anomaly detector's) quarantine and its reason stay.
 * Every change of a device's posture is a security event.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { Histogram } from 'prom-client';
import { ApplyService } from '../apply/apply.service';
import type { Actor } from '../auth/roles';
import { CredentialsService } from '../credentials/credentials.service';
import { LOGGER } from '../di-tokens';
import { MetricsService } from '../metrics/metrics.service';
import type { Device } from '../policy/schema';
import { QuarantineRepository } from '../store/quarantine.repository';
import { CredentialStatus, CredentialStatusProvider, evaluateDevice, PostureVerdict } from './posture';
import { SecurityEvents } from './security-events.service';
import { SiteView } from './site-view.service';

export const POSTURE_ACTOR: Actor = { name: 'posture', role: 'admin', tokenId: 0, source: 'controller' };

export interface DevicePosture extends PostureVerdict {
  since: string;
  quarantined: boolean;
  quarantinedBy: string | null;
  quarantineReason: string | null;
}

export interface QuarantineLatency {
  device: string;
  fromGeneration: number;
  toGeneration: number;
  ms: number;
  at: string;
}

@Injectable()
export class PostureService {
  private readonly status = new Map<string, DevicePosture>();
  readonly latencies: QuarantineLatency[] = [];
  private readonly bootAt = Date.now();
  private readonly latencyHist: Histogram;

  constructor(
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(SecurityEvents) private readonly events: SecurityEvents,
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(QuarantineRepository) private readonly quarantine: QuarantineRepository,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(MetricsService) metrics: MetricsService,
    /** Answers PostureRule `credential: valid` (credentials/credentials.service.ts). */
    @Inject(CredentialsService) private readonly credentials: CredentialStatusProvider,
  ) {
    this.latencyHist =
      (metrics.registry.getSingleMetric('cordon_posture_quarantine_seconds') as Histogram | undefined) ??
      new Histogram({
        name: 'cordon_posture_quarantine_seconds',
        help: 'From the generation in which a device fails posture to the generation that quarantines it',
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5],
        registers: [metrics.registry],
      });
  }

  list(): DevicePosture[] {
    return [...this.status.values()].sort((a, b) => (a.device < b.device ? -1 : 1));
  }

  private async credentialOf(d: Device): Promise<CredentialStatus> {
    try {
      return await this.credentials.credentialStatus(d.metadata.name);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, device: d.metadata.name }, 'credential status unavailable; treated as none');
      return 'none';
    }
  }

  /** One pass over every device; `generation` is the one the view was built from. */
  async evaluate(generation: number): Promise<void> {
    const view = this.site.view;
    const rules = view.postureRules;
    const quarantined = new Map((await this.quarantine.list()).map((q) => [q.device, q]));
    for (const name of [...this.status.keys()]) if (!view.devices.has(name)) this.status.delete(name);
    if (rules.length === 0 && ![...quarantined.values()].some((q) => q.actor === POSTURE_ACTOR.name) && this.status.size === 0) return;

    const now = Date.now();
    for (const [name, device] of view.devices) {
      const needsCredential = rules.some((r) => r.spec.require.credential && Object.entries(r.spec.selector).every(([k, v]) => device.metadata.labels?.[k] === v));
      const cred: CredentialStatus = needsCredential ? await this.credentialOf(device) : 'none';
      const v = evaluateDevice(device, rules, {
        now,
        credential: () => cred,
        lastSeen: () => this.site.lastSeen.get(name) ?? Math.max(view.deviceSince.get(name) ?? 0, this.bootAt),
      });
      const q = quarantined.get(name);
      const prev = this.status.get(name);
      const signature = JSON.stringify(v.failures);
      const changed = !prev || JSON.stringify(prev.failures) !== signature;
      const entry: DevicePosture = {
        ...v,
        since: changed ? new Date(now).toISOString() : prev!.since,
        quarantined: !!q,
        quarantinedBy: q?.actor ?? null,
        quarantineReason: q?.reason ?? null,
      };
      this.status.set(name, entry);
      if (changed && (v.failures.length > 0 || (prev && !prev.compliant))) {
        await this.events.emit({
          at: new Date(now).toISOString(),
          type: 'posture',
          action: v.compliant ? 'posture-compliant' : 'posture-failed',
          severity: v.compliant ? 'info' : v.failures.some((f) => f.onFailure === 'quarantine') ? 'high' : 'medium',
          outcome: v.compliant ? 'success' : 'failure',
          message: v.compliant
            ? `device ${name} complies with ${v.rules.join(', ') || 'every posture rule'} again`
            : `device ${name} fails posture: ${v.failures.map((f) => `${f.rule} ${f.requirement} ${f.expected} (is ${f.actual})`).join('; ')}`,
          device: name,
          rule: v.failures[0]?.rule,
          data: { posture: v },
        });
      }

      const quarantineFailures = v.failures.filter((f) => f.onFailure === 'quarantine');
      try {
        if (quarantineFailures.length && !q) {
          const reason = `posture: ${quarantineFailures.map((f) => `${f.rule} requires ${f.requirement} ${f.expected}, is ${f.actual}`).join('; ')}`;
          const r = await this.apply.quarantine(name, true, { actor: POSTURE_ACTOR, reason });
          const from = this.site.announcedAt.get(generation);
          if (from !== undefined && r.changed) {
            const ms = Date.now() - from;
            this.latencies.push({ device: name, fromGeneration: generation, toGeneration: r.generation, ms, at: new Date().toISOString() });
            if (this.latencies.length > 100) this.latencies.shift();
            this.latencyHist.observe(ms / 1000);
          }
          entry.quarantined = true;
          entry.quarantinedBy = POSTURE_ACTOR.name;
          entry.quarantineReason = reason;
          this.log.info({ device: name, reason, generation: r.generation }, 'posture: device quarantined');
        } else if (!quarantineFailures.length && q && q.actor === POSTURE_ACTOR.name) {
          const r = await this.apply.quarantine(name, false, { actor: POSTURE_ACTOR });
          entry.quarantined = false;
          entry.quarantinedBy = null;
          entry.quarantineReason = null;
          this.log.info({ device: name, generation: r.generation }, 'posture: device released');
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message, device: name }, 'posture: quarantine change failed');
      }
    }
  }
}
