/**
 * GET /v1/fqdn: what the enforcers have learned from DNS answers (ReportFqdn),
 * one row per (enforcer, name, address), soonest-expiring last; `enforcer` and
 * `name` (a name, or a `*.domain` pattern) narrow it down. `reports` says when
 * each enforcer last reported and whether its report left some out.
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { badRequest, notFound } from '../http/problem';
import { EnforcerRepository } from '../store/enforcers.repository';
import { LearnedNamesRepository } from '../store/learned-names.repository';
import { canonicalFqdn, fqdnMatches, fqdnPatternError } from '../../../../model/generation/fqdn';

export interface LearnedNameRow {
  enforcer: string;
  name: string;
  address: string;
  expiresAt: string;
  /** Past its TTL: new connections to it are refused until it is resolved again (tracked ones live on). */
  expired: boolean;
  selectors: string[];
}

@Controller('v1/fqdn')
export class FqdnController {
  constructor(
    @Inject(LearnedNamesRepository) private readonly learned: LearnedNamesRepository,
    @Inject(EnforcerRepository) private readonly enforcers: EnforcerRepository,
  ) {}

  @Get()
  async list(@Query('enforcer') enforcer?: string, @Query('name') name?: string) {
    if (name !== undefined) {
      const p = fqdnPatternError(name);
      if (p) throw badRequest(`name: ${p}`);
    }
    if (enforcer !== undefined && !(await this.enforcers.get(enforcer))) throw notFound(`enforcer "${enforcer}" is not enrolled`);
    const now = Date.now();
    const wanted = name === undefined ? undefined : canonicalFqdn(name);
    const items: LearnedNameRow[] = [];
    const reports = [];
    for (const r of await this.learned.list(enforcer)) {
      reports.push({ enforcer: r.enforcer, reportedAt: r.reportedAt, total: r.total, listed: r.names.length });
      for (const n of r.names) {
        if (wanted && !fqdnMatches(wanted, n.name)) continue;
        items.push({ enforcer: r.enforcer, name: n.name, address: n.address, expiresAt: new Date(n.expiresAt).toISOString(), expired: n.expiresAt <= now, selectors: n.selectors });
      }
    }
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.enforcer < b.enforcer ? -1 : a.enforcer > b.enforcer ? 1 : a.address < b.address ? -1 : 1));
    return { items, reports, nextCursor: null };
  }
}
