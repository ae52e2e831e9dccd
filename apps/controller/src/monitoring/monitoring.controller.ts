// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
/** The bit of Express's response used here (no @types/express in the tree). */
type Response = { type(contentType: string): unknown };
import { z } from 'zod';
import { ApplyService } from '../apply/apply.service';
import { AuditService } from '../audit/audit.service';
import { CurrentActor } from '../auth/actor.decorator';
import { MinRole, type Actor } from '../auth/roles';
import { badRequest, notFound } from '../http/problem';
import { Labels, Name } from '../policy/schema';
import { toEcsLine } from '../siem/ecs';
import { SiemService } from '../siem/siem.service';
import { ANOMALY_KINDS } from './detector';
import type { FlowRecord } from './flow-record';
import { AnomalyService } from './anomalies.service';
import { DiscoveryService } from './discovery.service';
import { MonitoringService } from './monitoring.service';
import { PostureService } from './posture.service';
import { SecurityEvents } from './security-events.service';
import { SiteView } from './site-view.service';

const FlowIn = z.looseObject({
  src: z.string(),
  dst: z.string(),
  sport: z.number().int().min(0).max(65535).default(0),
  dport: z.number().int().min(0).max(65535).default(0),
  protocol: z.number().int().min(0).max(255),
  srcIdentity: z.number().int().min(0).default(0),
  dstIdentity: z.number().int().min(0).default(0),
  verdict: z.string(),
  reason: z.string().optional(),
  ruleId: z.number().int().min(0).optional(),
  packetsFwd: z.number().min(0).default(1),
  bytesFwd: z.number().min(0).default(0),
  packetsRev: z.number().min(0).default(0),
  bytesRev: z.number().min(0).default(0),
  firstSeen: z.number().optional(),
  lastSeen: z.number().optional(),
  ifindex: z.number().optional(),
  mac: z.string().optional(),
  interface: z.string().optional(),
});
const FlowsIn = z.strictObject({ enforcer: Name, flows: z.array(FlowIn).max(10_000) });
const AdmitIn = z.strictObject({
  address: z.string(),
  name: Name,
  labels: Labels.optional(),
  mac: z.string().optional(),
  firmware: z.string().optional(),
  dryRun: z.boolean().optional(),
});

function zodProblem(err: z.ZodError) {
  return badRequest(err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '), {
    issues: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

@Controller('v1')
export class MonitoringController {
  constructor(
    @Inject(MonitoringService) private readonly monitoring: MonitoringService,
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(AnomalyService) private readonly anomaly: AnomalyService,
    @Inject(SecurityEvents) private readonly securityEvents: SecurityEvents,
    @Inject(PostureService) private readonly posture: PostureService,
    @Inject(SiemService) private readonly siem: SiemService,
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  @Get('unknown-devices')
  unknown() {
    return { items: this.discovery.unknown.list(), nextCursor: null };
  }

  /** An unknown device becomes a Device, through the normal apply path (validated, compiled, audited). */
  @Post('admit')
  @HttpCode(200)
  async admit(@Body() body: unknown, @CurrentActor() actor: Actor) {
    const r = AdmitIn.safeParse(body ?? {});
    if (!r.success) throw zodProblem(r.error);
    const a = r.data;
    const seen = this.discovery.unknown.get(a.address);
    const mac = a.mac ?? seen?.mac ?? undefined;
    const doc = {
      apiVersion: 'cordon/v1',
      kind: 'Device',
      metadata: { name: a.name, ...(a.labels && Object.keys(a.labels).length ? { labels: a.labels } : {}) },
      spec: { addresses: [a.address], ...(mac ? { mac } : {}), ...(a.firmware ? { firmware: a.firmware } : {}) },
    };
    const existing = this.site.view.devices.get(a.name);
    if (existing) throw badRequest(`Device "${a.name}" already exists; pick another name or edit it with apply`);
    const result = await this.apply.apply([doc], { dryRun: !!a.dryRun, actor, source: `admit ${a.address}` });
    if (!a.dryRun) await this.monitoring.runTick('generation');
    return { ...result, device: doc, wasUnknown: seen ?? null };
  }

  @Get('anomalies')
  async anomalies(@Query('device') device?: string, @Query('kind') kind?: string, @Query('after') after?: string, @Query('limit') limit?: string) {
    if (kind && !(ANOMALY_KINDS as readonly string[]).includes(kind)) throw badRequest(`kind is one of ${ANOMALY_KINDS.join(', ')}`);
    await this.securityEvents.store.drain();
    const events = await this.securityEvents.store.query({ type: 'anomaly', device: device || undefined, after: Number(after) || 0, limit: Number(limit) || 1000 });
    const items = events
      .map((e) => ({ id: e.id, ...(e.data?.anomaly as object), onAnomaly: e.data?.onAnomaly }))
      .filter((a) => !kind || (a as { kind?: string }).kind === kind);
    return { items, nextCursor: events.length ? String(events[events.length - 1].id) : null };
  }

  /** Incidents: one per device and window, with all its evidence, one severity, one action. */
  @Get('incidents')
  async incidents(@Query('device') device?: string, @Query('after') after?: string, @Query('limit') limit?: string) {
    await this.anomaly.settled();
    // From the store: what every controller on the database raised, and what this one did before a restart.
    const items = await this.anomaly.incidentStore.query({ device: device || undefined, after: Number(after) || 0, limit: Number(limit) || 1000 });
    return { items, nextCursor: items.length ? String(items[items.length - 1].id) : null };
  }

  @Get('baselines/:device')
  async baseline(@Param('device') device: string) {
    // Served by another controller until now: its stored baseline, if any.
    await this.anomaly.baselines.ensure(device);
    const b = this.anomaly.detector.baseline(device, Date.now(), this.anomaly.thresholdsOf(device));
    if (!b) throw notFound(`no flows seen from or to ${device} yet`);
    return b;
  }

  @Get('posture')
  postureStatus() {
    return { items: this.posture.list(), quarantineLatencies: this.posture.latencies };
  }

  /** Security events; `format=ecs` answers ECS JSON lines (application/x-ndjson). */
  @Get('events')
  async events(
    @Res({ passthrough: true }) res: Response,
    @Query('after') after?: string,
    @Query('limit') limit?: string,
    @Query('type') type?: string,
    @Query('device') device?: string,
    @Query('format') format?: string,
  ) {
    await this.securityEvents.store.drain();
    const items = await this.securityEvents.store.query({ after: Number(after) || 0, limit: Number(limit) || 500, type: type || undefined, device: device || undefined });
    if (format === 'ecs') {
      res.type('application/x-ndjson');
      return items.map((e) => toEcsLine(e) + '\n').join('');
    }
    return { items, nextCursor: items.length ? String(items[items.length - 1].id) : (after ?? null) };
  }

  /** Flow records from elsewhere (replays, tests, other sensors), exactly as the control channel hands them over. */
  @Post('monitoring/flows')
  @MinRole('admin')
  @HttpCode(202)
  async flows(@Body() body: unknown) {
    const r = FlowsIn.safeParse(body ?? {});
    if (!r.success) throw zodProblem(r.error);
    this.monitoring.ingest(r.data.enforcer, r.data.flows as FlowRecord[], new Date());
    await this.securityEvents.store.drain();
    return { accepted: r.data.flows.length };
  }

  @Get('monitoring/settings')
  settings() {
    return { ...this.site.settings, siem: this.siem.status() };
  }

  @Put('monitoring/settings')
  @MinRole('admin')
  async updateSettings(@Body() body: unknown, @CurrentActor() actor: Actor) {
    const before = this.site.settings;
    try {
      this.site.updateSettings(body ?? {});
    } catch (err) {
      if (err instanceof z.ZodError) throw zodProblem(err);
      throw err;
    }
    this.siem.reconfigure();
    const after = this.site.settings as unknown as Record<string, unknown>;
    const changed: Record<string, { from: unknown; to: unknown }> = {};
    for (const [k, v] of Object.entries(before)) if (after[k] !== v) changed[k] = { from: v, to: after[k] };
    await this.audit.record(actor, 'monitoring.settings', 'monitoring/settings', { changed });
    return this.settings();
  }

  /** Signs the audit chain's head now and sends it down the event stream (siem/audit-checkpoints.ts). */
  @Post('audit/checkpoint')
  @MinRole('admin')
  @HttpCode(200)
  async checkpoint() {
    const cp = await this.siem.checkpoints?.checkpoint(true);
    if (!cp) throw notFound('no audit checkpoint: the log is empty or the control channel key is not ready');
    await this.securityEvents.store.drain();
    return cp;
  }

  /** Runs one monitoring pass now (posture, intervals, drop summaries, audit tail). */
  @Post('monitoring/tick')
  @MinRole('admin')
  @HttpCode(200)
  async tick() {
    await this.monitoring.runTick('tick');
    await this.monitoring.flushDrops();
    await this.securityEvents.store.drain();
    return { ok: true };
  }
}
