// SPDX-License-Identifier: Apache-2.0
/**
 * REST of the control channel: revoke an enforcer (ends its streams at once),
 * the flows enforcers report (`cordon flows [--watch]`), the enforcer CA.
 */
import { Body, Controller, Get, Header, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { CurrentActor } from '../auth/actor.decorator';
import { Actor, MinRole, Public } from '../auth/roles';
import { AuditService } from '../audit/audit.service';
import { badRequest, notFound } from '../http/problem';
import { enforcerNameOr400 } from '../http/enforcer-name';
import { ControlService } from './control.service';
import { flowQueryOf } from './flow-params';
import { scopeError } from './flows/report-guard';

@Controller('v1')
export class ControlController {
  constructor(
    @Inject(ControlService) private readonly control: ControlService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  /** Revokes every certificate of the enforcer and cuts its open streams; it must enroll again with a new token. */
  @Post('enforcers/:name/revoke')
  @HttpCode(200)
  @MinRole('admin')
  async revoke(@Param('name') name: string, @CurrentActor() actor: Actor) {
    enforcerNameOr400(name);
    const r = await this.control.revoke(name);
    if (!r.known) throw notFound(`enforcer "${name}" is not enrolled`);
    await this.audit.record(actor, 'enforcer.revoke', name, { serials: r.serials, callsCut: r.callsCut });
    return { name, revoked: true, serials: r.serials, streamsCut: r.callsCut };
  }

  /**
   * The addresses an enforcer serves: flows and events it reports about neither end in them are
   * refused (cordon_control_records_refused_total). `{"prefixes": null}` returns it to the default,
   * the site's own addresses.
   */
  @Put('enforcers/:name/scope')
  @MinRole('admin')
  async setScope(@Param('name') name: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    enforcerNameOr400(name);
    const prefixes = (body as { prefixes?: unknown } | null)?.prefixes;
    if (prefixes !== null) {
      const p = scopeError(prefixes);
      if (p) throw badRequest(p);
    }
    if (!this.control.scopes) throw badRequest('this controller has no store for enforcer scopes');
    await this.control.scopes.set(name, prefixes as string[] | null, actor.name);
    this.control.guard.setDeclared(name, prefixes as string[] | null);
    await this.audit.record(actor, 'enforcer.scope', name, { prefixes });
    // At once on this controller; on the others sharing the database when the enforcer's flow stream reopens.
    return { name, prefixes };
  }

  @Get('enforcers/:name/scope')
  async getScope(@Param('name') name: string) {
    enforcerNameOr400(name);
    return { name, prefixes: (await this.control.scopes?.get(name)) ?? null };
  }

  /** Connected enforcers and the status each last reported. */
  @Get('enforcers-connected')
  connected() {
    return {
      items: this.control.connectedEnforcers().map((name) => {
        const live = this.control.liveStatus(name);
        return { name, generation: live?.status.generation ?? null, health: live?.status.health ?? null, reportedAt: live?.at.toISOString() ?? null };
      }),
    };
  }

  /**
   * Flows reported by enforcers, most recently received first, filtered the way `cordon flows` (hubble) does:
   * `from`/`to`/`endpoint` (either end) (addresses, CIDRs or segment names, comma-separated), `rule`, `port`, `protocol`, `verdict`, `reason`,
   * `encryption`, `enforcer`, `segment` (either end), `since` (last packet after: ms or ISO time), `limit`.
   * `after` takes the `cursor` of a previous answer and returns only flows received since: `cordon flows --watch`
   * polls with it, so a flow an enforcer reports a flow interval late (its last packet older than the previous
   * poll) still shows. `now` is kept for pollers by time. GET /v1/flows/stream sends the same rows as they arrive.
   */
  @Get('flows')
  flows(@Query() params: Record<string, string | string[]>) {
    const now = Date.now();
    const q = flowQueryOf(params);
    const page = this.control.flows.page(q);
    return { now, cursor: page.cursor, items: page.items };
  }

  /** The enforcer CA certificate (what `--ca-sha256` of `cordon enforcer` pins). */
  @Get('control/ca.pem')
  @Public()
  @Header('content-type', 'application/x-pem-file')
  caCert() {
    const pem = this.control.caPem;
    if (!pem) throw notFound('the control channel CA is not ready');
    return pem;
  }

  @Get('control/crl.pem')
  @Public()
  @Header('content-type', 'application/x-pem-file')
  crl() {
    const pem = this.control.crlPem;
    if (!pem) throw notFound('the control channel CA is not ready');
    return pem;
  }
}
