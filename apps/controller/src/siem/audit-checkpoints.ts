// SPDX-License-Identifier: Apache-2.0
/**
 * Anchors the audit chain outside the database: every `everyMs` (and on demand)
 * the chain's head (last id, hash) is signed with the controller's enforcer CA
 * key and sent down the security event stream (JSON lines, syslog), where the
 * database cannot reach it. `cordon audit verify --offline --checkpoints F --ca
 * CA` (audit/offline-verify.ts documents the format) then detects a database
 * rewritten from its first entry.
 */
import type { Logger } from 'pino';
import type { AuditRepository } from '../store/audit.repository';
import { checkpointMessage, type AuditCheckpoint } from '../audit/offline-verify';
import type { SecurityEvent } from '../monitoring/events';

export const CHECKPOINT_ACTION = 'audit-checkpoint';

export class AuditCheckpoints {
  private lastId = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly audit: Pick<AuditRepository, 'head'>,
    private readonly sign: (message: Buffer) => Promise<Buffer>,
    private readonly emit: (e: Omit<SecurityEvent, 'id'>) => Promise<unknown>,
    private readonly log: Logger,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.checkpoint().catch((err: Error) => this.log.warn({ err: err.message }, 'audit checkpoint failed')), this.everyMs);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Signs and sends the head when it moved since the last checkpoint (or when forced); returns it. */
  async checkpoint(force = false): Promise<AuditCheckpoint | null> {
    const head = await this.audit.head();
    if (!head) return null;
    const lastId = head.lastId;
    if (!force && lastId === this.lastId) return null;
    const c = { lastId, hash: head.hash, at: new Date().toISOString() };
    const signature = (await this.sign(checkpointMessage(c))).toString('base64');
    const cp: AuditCheckpoint = { ...c, signature };
    await this.emit({
      at: c.at,
      type: 'audit',
      action: CHECKPOINT_ACTION,
      severity: 'info',
      outcome: 'success',
      message: `audit log checkpoint at entry ${lastId}`,
      data: { checkpoint: cp },
    });
    this.lastId = lastId;
    return cp;
  }
}
