// SPDX-License-Identifier: Apache-2.0
/** Sends every security event to the configured syslog collector (settings.syslog). */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import { Optional } from '@nestjs/common';
import { ControlService } from '../control/control.service';
import { LOGGER } from '../di-tokens';
import { SecurityEvents } from '../monitoring/security-events.service';
import { SiteView } from '../monitoring/site-view.service';
import { AuditRepository } from '../store/audit.repository';
import { AuditCheckpoints } from './audit-checkpoints';
import { formatCef, formatRfc5424, parseSyslogUrl, SyslogSender } from './syslog';

@Injectable()
export class SiemService implements OnModuleInit, OnModuleDestroy {
  private sender: SyslogSender | null = null;
  private url: string | null = null;
  private sub: Subscription | null = null;

  constructor(
    @Inject(SecurityEvents) private readonly events: SecurityEvents,
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(LOGGER) private readonly log: Logger,
    @Optional() @Inject(ControlService) private readonly control?: ControlService,
  ) {}

  /** Signed heads of the audit chain on the event stream (audit-checkpoints.ts); null without the control channel's key. */
  checkpoints: AuditCheckpoints | null = null;

  onModuleInit(): void {
    if (this.control) {
      const control = this.control;
      this.checkpoints = new AuditCheckpoints(this.audit, (m) => control.sign(m), (e) => (this.events.leader.isLeader ? this.events.emit(e) : Promise.resolve(null)), this.log, Number(process.env.CORDON_AUDIT_CHECKPOINT_MS) || 300_000);
      this.checkpoints.start();
    }
    this.reconfigure();
    this.sub = this.events.bus.events$.subscribe((e) => {
      if (this.url !== this.site.settings.syslog) this.reconfigure();
      if (!this.sender) return;
      try {
        this.sender.send(this.site.settings.syslogFormat === 'cef' ? formatCef(e) : formatRfc5424(e));
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'syslog export failed');
      }
    });
  }

  /** Picks up settings.syslog (boot flags, or PUT /v1/monitoring/settings). */
  reconfigure(): void {
    const url = this.site.settings.syslog;
    if (url === this.url) return;
    const old = this.sender;
    this.sender = null;
    void old?.close();
    this.url = url;
    if (url) {
      this.sender = new SyslogSender(parseSyslogUrl(url));
      this.log.info({ syslog: url, format: this.site.settings.syslogFormat }, 'security events go to syslog');
    }
  }

  status() {
    return { format: this.site.settings.syslogFormat, ...(this.sender?.status() ?? { target: null }) };
  }

  async onModuleDestroy(): Promise<void> {
    this.checkpoints?.stop();
    this.sub?.unsubscribe();
    await this.sender?.close();
  }
}
