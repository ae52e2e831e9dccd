// SPDX-License-Identifier: Apache-2.0
/**
 * Grants: created through apply (a Policy with a one-off window, so every
 * enforcer opens and closes it by its own clock), listed, revoked early, and
 * removed once expired, each step in the audit log with the grant's reason.
 *
 * The enforcers close an expired grant's window on their own; removing the
 * document afterwards keeps the policy set tidy. Every controller sweeps
 * (a second controller's removal of the same grant finds it gone: fine).
 */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ApplyService } from '../apply/apply.service';
import { toDocument } from '../apply/site-state';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/roles';
import { CurrentGeneration } from '../bundles/current-generation';
import { LOGGER } from '../di-tokens';
import { Problem } from '../http/problem';
import { DocumentRepository } from '../store/documents.repository';
import { grantPolicy, grantView, type GrantRequest, type GrantView } from './grant';
import { resolveGrantEnd } from './grant-ends';

export const GRANT_SWEEPER: Actor = { name: 'grant-expiry', role: 'admin', tokenId: 0, source: 'controller' };
/** How often expired grants are looked for (the datapath does not wait for it). */
const SWEEP_MS = 1000;

@Injectable()
export class GrantsService implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(DocumentRepository) private readonly documents: DocumentRepository,
    @Inject(CurrentGeneration) private readonly generations: CurrentGeneration,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
  }
  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async list(now = Date.now()): Promise<GrantView[]> {
    const out: GrantView[] = [];
    for (const d of await this.documents.list('Policy')) {
      const g = grantView(d, now);
      if (g) out.push(g);
    }
    return out.sort((a, b) => (a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  }

  async create(r: GrantRequest, actor: Actor, now = Date.now()) {
    const docs = (await this.documents.list()).map(toDocument);
    const { bundle } = await this.generations.latest();
    const from = resolveGrantEnd(r.from, 'from', docs, bundle);
    const to = resolveGrantEnd(r.to, 'to', docs, bundle);
    const name = r.name ?? `grant-${new Date(now).toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
    if (docs.some((d) => d.kind === 'Policy' && d.metadata.name === name)) throw new Problem(409, 'Conflict', `Policy "${name}" exists already; pick another --name`);
    const policy = grantPolicy(r, { from, to }, actor.name, now, name);
    const result = await this.apply.apply([policy], { dryRun: false, actor, source: 'grant' });
    const grant = grantView({ name, labels: policy.metadata.labels, spec: policy.spec }, now)!;
    await this.audit.record(actor, 'grant.create', `Policy/${name}`, { reason: r.reason, from: r.from, to: r.to, segments: { from, to }, protocol: r.protocol, port: r.port ?? null, start: grant.start, end: grant.end });
    return { grant, result };
  }

  async revoke(name: string, actor: Actor) {
    const g = (await this.list()).find((x) => x.name === name);
    if (!g) throw new Problem(404, 'Not Found', `grant "${name}" does not exist (cordon get grants lists them)`);
    const result = await this.apply.delete('Policy', name, { actor });
    await this.audit.record(actor, 'grant.revoke', `Policy/${name}`, { reason: g.reason, end: g.end, revokedAt: new Date().toISOString() });
    return { grant: g, result };
  }

  /** Removes every grant whose window has ended. */
  async sweep(now = Date.now()): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    let removed = 0;
    try {
      for (const g of await this.list(now)) {
        if (Date.parse(g.end) > now) continue;
        try {
          await this.apply.delete('Policy', g.name, { actor: GRANT_SWEEPER });
        } catch (err) {
          if (err instanceof Problem && err.status === 404) continue; // another controller was first
          throw err;
        }
        await this.audit.record(GRANT_SWEEPER, 'grant.expire', `Policy/${g.name}`, { reason: g.reason, end: g.end });
        this.log.info({ grant: g.name, end: g.end }, 'grant expired: removed');
        removed++;
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'removing expired grants failed; trying again');
    } finally {
      this.sweeping = false;
    }
    return removed;
  }
}
