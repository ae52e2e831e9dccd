// SPDX-License-Identifier: Apache-2.0
/**
 * The control channel as a Nest provider: opens the CA, serves the Control
 * gRPC service once the app has started, stops it with the app, and exposes
 * revocation and flows to the REST controller.
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { CONFIG, LOGGER } from '../di-tokens';
import type { ControllerConfig } from '../config';
import { MetricsService } from '../metrics/metrics.service';
import { AuditService } from '../audit/audit.service';
import { CertificateAuthority } from './ca/certificate-authority';
import { SharedCertificateLists } from './ca/shared-certificate-lists';
import { CREDENTIAL_ENV } from '../credentials/credentials.config';
import { CONTROL_CONFIG, CONTROL_STORE, ControlConfig, ControlStore, GENERATION_SOURCE, GenerationSource } from './control.ports';
import { FlowAggregator } from './flows/flow-aggregator';
import { ReportGuard } from './flows/report-guard';
import { EnforcerScopes } from './scope.repo';
import { SqlFlowSequences } from './flows/flow-sequences';
import { openSiteCa, siteDatabase } from '../keys/site-ca';
import * as path from 'node:path';
import type { SqlExecutor } from '../store/sql';
import type { Subscription } from 'rxjs';
import type { Bundle } from '../../../../model/generation/bundle';
import { IdentityNames } from '../../../../model/generation/names';
import { ControlFeeds } from './feeds';
import { PLACEMENT_SOURCE, type PlacementSource } from './placement.port';
import { ControlServer, DEFAULT_CERT_TTL_MS } from './grpc/control.server';
import { EnforcerStreams } from './enforcer-streams.repo';
import { StreamRegistry } from './stream-registry';
import * as os from 'node:os';

@Injectable()
export class ControlService implements OnApplicationBootstrap, OnModuleDestroy {
  private server: ControlServer | null = null;
  private ca: CertificateAuthority | null = null;
  readonly flows: FlowAggregator;
  private readonly registry: Registry;
  private readonly connected: Gauge;

  constructor(
    @Inject(CONTROL_CONFIG) private readonly config: ControlConfig,
    @Inject(CONTROL_STORE) private readonly store: ControlStore,
    @Inject(GENERATION_SOURCE) private readonly generations: GenerationSource,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(MetricsService) metrics: MetricsService,
    @Inject(ControlFeeds) readonly feeds: ControlFeeds,
    // `--cert-ttl` lives in the controller's config; CONTROL_CONFIG (built in app.module) may not carry it.
    @Optional() @Inject(CONFIG) private readonly controller?: Pick<ControllerConfig, 'certTtlMs' | 'id'>,
    @Optional() @Inject(AuditService) private readonly audit?: AuditService,
    @Optional() @Inject(PLACEMENT_SOURCE) private readonly placement?: PlacementSource,
  ) {
    this.registry = metrics.registry;
    this.flows = new FlowAggregator(this.registry, generations);
    this.connected =
      (this.registry.getSingleMetric('cordon_enforcers_connected') as Gauge | undefined) ??
      new Gauge({ name: 'cordon_enforcers_connected', help: 'Enforcers with an open policy stream', registers: [this.registry] });
    this.connected.set(0);
    this.guard = new ReportGuard(this.registry);
    const sql = (store as { sql?: SqlExecutor }).sql;
    this.sql = sql ?? null;
    this.scopes = sql ? new EnforcerScopes(sql) : null;
  }
  private readonly sql: SqlExecutor | null;
  readonly guard: ReportGuard;
  readonly scopes: EnforcerScopes | null;
  private siteSub: Subscription | null = null;

  /** The site's own addresses (what an enforcer without a declared scope serves), from the newest generation. */
  private refreshSite(b: Bundle | null): void {
    if (!b) return;
    this.guard.setSite(b.ipcache.map((e) => e.cidr));
    // A deleted segment's series go with it (flows counted later under its old identity read as unknown).
    this.flows.pruneSegments(new IdentityNames(b.identities)).catch((err) => this.log.warn({ err: String(err) }, 'could not prune the flow series of deleted segments'));
  }

  async onApplicationBootstrap(): Promise<void> {
    // The CA's issued and revoked lists are the store's (embedded or shared), never files of this controller.
    const store = siteDatabase(this.sql);
    if (!store) throw new Error('the control channel needs the SQL store for the enforcer CA\'s issued and revoked lists');
    const lists = (ca: string) =>
      SharedCertificateLists.open(store, ca, {
        onFollowError: (err) =>
          err
            ? this.log.warn({ err: err.message }, 'cannot follow the revocations of the other controllers for now; retrying every second')
            : this.log.info('following the revocations of the other controllers again'),
      });
    // The enforcer CA key is kept like the device CA's: --kek-file seals it, a PKCS#11 token holds it.
    const env = process.env;
    const open = () =>
      CertificateAuthority.open(
        this.config.dataDir,
        {
          kekFile: env[CREDENTIAL_ENV.kekFile] || undefined,
          pkcs11Module: env[CREDENTIAL_ENV.pkcs11Module] || undefined,
          pkcs11Token: env[CREDENTIAL_ENV.pkcs11Token] || undefined,
          pkcs11PinFile: env[CREDENTIAL_ENV.pkcs11PinFile] || undefined,
          pkcs11Pin: env[CREDENTIAL_ENV.pkcs11Pin] || undefined,
        },
        { lists, onCrlError: (err) => this.log.error({ err: err.message }, 'could not republish the enforcer CRL after another controller\'s revocation') },
      );
    // On a shared PostgreSQL the site has one enforcer CA, kept in the database (keys/site-ca.ts).
    const db = (this.store as { driver?: string }).driver === 'postgres' ? store : null;
    if (db) {
      const r = await openSiteCa(db, { dir: path.join(this.config.dataDir, 'ca'), purpose: 'enforcer-ca', what: 'enforcer CA' }, open);
      this.ca = r.ca;
      if (r.outcome === 'own') this.log.warn('the enforcer CA key is not sealed (no --kek-file): it stays this controller\'s own, and enforcers enrolled here cannot move to the other controllers of the site; give --kek-file (`cordon controller ca seal`) to share it');
      else this.log.info({ outcome: r.outcome }, 'enforcer CA shared with the site through the database');
    } else {
      this.ca = await open();
    }
    this.server = new ControlServer({
      ca: this.ca,
      store: this.store,
      generations: this.generations,
      flows: this.flows,
      log: this.log.child({ feature: 'control' }),
      certTtlMs: this.config.certTtlMs ?? this.controller?.certTtlMs ?? DEFAULT_CERT_TTL_MS,
      serverNames: this.config.serverNames,
      onConnectedChange: (names) => {
        this.connected.set(names.length);
        this.streams?.update(names);
      },
      feeds: this.feeds,
      guard: this.guard,
      audit: this.audit ? (actor, action, target, diff) => this.audit!.record(actor, action, target, diff) : undefined,
      scopes: this.scopes ?? undefined,
      placement: this.placement,
      sequences: this.sql ? new SqlFlowSequences(this.sql) : undefined,
    });
    // The site is known before the first stream opens, and follows each generation.
    this.refreshSite((await this.generations.latest()).bundle);
    this.siteSub = this.generations.published$.subscribe((g) => this.refreshSite(g.bundle));
    const port = await this.server.listen(this.config.grpc);
    const server = this.server;
    // Where each enforcer is connected, for every controller of the site (GET /v1/enforcers, per-enforcer metrics).
    this.id = this.controller?.id ?? `${os.hostname()}:${port}`;
    if (this.sql) {
      this.streams = new StreamRegistry(new EnforcerStreams(this.sql), this.id, this.log.child({ feature: 'control' }));
      this.streams.update(server.sessions.connected());
      this.streams.start();
    }
    this.unlisten = (await this.store.listenRevocations?.((name) => {
      const cut = server.cutRevoked(name);
      if (cut) this.log.warn({ enforcer: name, callsCut: cut }, 'enforcer revoked by another controller: streams cut');
    })) ?? null;
  }
  private unlisten: (() => Promise<void>) | null = null;
  private streams: StreamRegistry | null = null;
  private id: string | null = null;

  async onModuleDestroy(): Promise<void> {
    this.siteSub?.unsubscribe();
    await this.unlisten?.().catch(() => undefined);
    this.unlisten = null;
    await this.server?.close();
    this.server = null;
    await this.ca?.close().catch(() => undefined);
    await this.streams?.stop();
    this.streams = null;
    this.feeds.complete();
  }

  /** The bound gRPC port (useful with --grpc HOST:0). */
  get grpcPort(): number {
    return this.server?.port ?? 0;
  }
  get caPem(): string | null {
    return this.ca?.certificatePem ?? null;
  }
  get crlPem(): string | null {
    return this.ca?.crl ?? null;
  }
  /** This controller's id in the fleet status (--id; default HOSTNAME:GRPC-PORT); null before the channel listens. */
  get controllerId(): string | null {
    return this.id;
  }
  /** Resolves once the open streams are recorded in the store (tests; REST answers read the store). */
  async streamsRecorded(): Promise<void> {
    await this.streams?.flush();
  }
  connectedEnforcers(): string[] {
    return this.server?.sessions.connected() ?? [];
  }
  liveStatus(name: string) {
    return this.server?.live.get(name) ?? null;
  }

  /** Signs with the enforcer CA key (ECDSA P-256, SHA-256, r||s): audit checkpoints. */
  async sign(message: Buffer): Promise<Buffer> {
    if (!this.ca) throw new Error('the control channel CA is not ready');
    return Buffer.from(await this.ca.key.sign(message));
  }

  revoke(name: string) {
    if (!this.server) throw new Error('the control channel is not running');
    return this.server.revoke(name);
  }
}
