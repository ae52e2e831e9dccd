// SPDX-License-Identifier: Apache-2.0
/**
 * The security event stream: every event gets an id in the store (event-store.ts)
 * and goes to the in-process bus (syslog export, tests); the audit log is
 * tailed into it, so that quarantines, enrollments and revocations are events too.
 * On a site of several controllers one leads the tail (store/leader.ts), so each
 * audit entry becomes one event and is exported once; a controller taking over
 * resumes after the last audit entry already turned into an event.
 */
import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER, STORE } from '../di-tokens';
import { LEAD, Leader } from '../store/leader';
import type { SqlExecutor } from '../store/sql';
import { AuditRepository } from '../store/audit.repository';
import { QuarantineRepository } from '../store/quarantine.repository';
import { SecurityEventRepository } from '../store/security-events.repository';
import { EventStore } from './event-store';
import { EventBus, SecurityEvent } from './events';

@Injectable()
export class SecurityEvents implements OnModuleDestroy {
  readonly bus = new EventBus();
  readonly store: EventStore;
  private lastAuditId = -1;
  private tailing = false;
  /** Leads the audit tail (and the audit checkpoints) of the site. */
  readonly leader: Leader;

  constructor(
    @Inject(SecurityEventRepository) repo: SecurityEventRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(QuarantineRepository) private readonly quarantine: QuarantineRepository,
    @Inject(LOGGER) private readonly log: Logger,
    @Optional() @Inject(STORE) store?: { sql: SqlExecutor },
  ) {
    this.store = new EventStore(repo, this.bus, log.child({ feature: 'monitoring' }));
    this.leader = new Leader(store?.sql ?? null, LEAD.auditTail);
  }

  /** Audit entries from now on become events (those already turned into events are not repeated). */
  async startAuditTail(): Promise<void> {
    this.tailing = true;
    await this.lead();
  }

  /** Whether this controller leads the tail; on taking over, it resumes after the last audit entry made an event. */
  private lead(): Promise<boolean> {
    return this.leader.leading(async () => {
      this.lastAuditId = await this.store.maxAuditId().catch(() => 0);
      this.log.info({ afterAuditId: this.lastAuditId }, 'this controller leads the audit tail and its export');
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.store.drain();
    await this.leader.release().catch(() => undefined);
  }

  emit(e: Omit<SecurityEvent, 'id'>): Promise<SecurityEvent> {
    return this.store.append(e);
  }

  /** Turns the audit entries written since the last call into events. */
  async tailAudit(): Promise<void> {
    if (!this.tailing || !(await this.lead()) || this.lastAuditId < 0) return;
    for (;;) {
      const page = await this.audit.page(200, this.lastAuditId);
      const written: Promise<unknown>[] = [];
      for (const e of page.items) {
        this.lastAuditId = e.id;
        let type: SecurityEvent['type'] = 'audit';
        let device: string | null = null;
        let reason: string | undefined;
        let severity: SecurityEvent['severity'] = 'info';
        if (e.action.startsWith('quarantine.')) {
          type = 'quarantine';
          severity = 'high';
          device = e.target?.replace(/^Device\//, '') ?? null;
          if (e.action === 'quarantine.add' && device) reason = (await this.quarantine.list()).find((q) => q.device === device)?.reason ?? undefined;
        } else if (/enroll/.test(e.action)) type = 'enrollment';
        else if (/revoke/.test(e.action)) {
          type = 'revocation';
          severity = 'medium';
        }
        written.push(this.emit({
          at: e.at,
          type,
          action: e.action.replace(/\./g, '-'),
          severity,
          outcome: 'success',
          message: `${e.actor} ${e.action} ${e.target ?? ''}${reason ? ` (${reason})` : ''}`.trim(),
          device,
          actor: e.actor,
          reason,
          data: { auditId: e.id, target: e.target, source: e.source, diff: e.diff, hash: e.hash },
        }));
      }
      await Promise.all(written);
      if (!page.nextCursor || page.items.length === 0) break;
    }
  }
}
