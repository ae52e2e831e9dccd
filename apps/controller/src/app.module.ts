import { DynamicModule, Global, Module, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Logger } from 'pino';
import { ApplyModule } from './apply/apply.module';
import { AuditController } from './audit/audit.controller';
import { AuditService } from './audit/audit.service';
import { AuthGuard } from './auth/auth.guard';
import { BundleService } from './bundles/bundle.service';
import { CurrentGeneration } from './bundles/current-generation';
import { BundlesController } from './bundles/bundles.controller';
import type { ControllerConfig } from './config';
import { ConsoleModule } from './console/console.module';
import { ControlModule } from './control/control.module';
import { CredentialsModule } from './credentials/credentials.module';
import { MonitoringModule } from './monitoring/monitoring.module';
import { MudModule } from './mud/mud.module';
import { GrantsModule } from './grants/grants.module';
import { RecommendModule } from './recommend/recommend.module';
import { PlaintextModule } from './plaintext/plaintext.module';
import { GENERATION_SOURCE, CONTROL_CONFIG, CONTROL_STORE, type ControlConfig, type ControlStore } from './control/control.ports';
import { DocumentsController } from './documents/documents.controller';
import { EnforcersController } from './enforcers/enforcers.controller';
import { FqdnController } from './enforcers/fqdn.controller';
import { FleetService } from './enforcers/fleet.service';
import { FleetMetrics } from './metrics/fleet-metrics';
import { OpenApiController } from './http/openapi';
import { HealthController } from './metrics/health.controller';
import { MetricsService } from './metrics/metrics.service';
import { QuarantineController } from './quarantine/quarantine.controller';
import { AuditRepository } from './store/audit.repository';
import { CredentialRepository } from './store/credentials.repository';
import { DocumentRepository } from './store/documents.repository';
import { claimEnrollment } from './store/enrollment-claim';
import { EnforcerRepository } from './store/enforcers.repository';
import { LearnedNamesRepository } from './store/learned-names.repository';
import { IdentityRepository } from './store/identities.repository';
import { QuarantineRepository } from './store/quarantine.repository';
import { IncidentRepository } from './store/incidents.repository';
import { SecurityEventRepository } from './store/security-events.repository';
import { PlaintextTallyRepository } from './store/plaintext-tallies.repository';
import { UnknownDeviceRepository } from './store/unknown-devices.repository';
import { ObservedFlowRepository } from './store/observed-flows.repository';
import { BaselineRepository } from './store/baselines.repository';
import type { Store } from './store/store';
import { TokenRepository } from './store/tokens.repository';
import { TokensController } from './tokens/tokens.controller';
import { TokensService } from './tokens/tokens.service';
import { CONFIG, LOGGER, STORE } from './di-tokens';
import { TraceController } from './trace/trace.controller';
import { EnforcerLabels } from './placement/enforcer-labels.service';
import { EnforcerPlacement } from './placement/placement.service';
import { LabelsController } from './placement/labels.controller';
import { PLACEMENT_SOURCE } from './control/placement.port';

export interface AppContext {
  config: ControllerConfig;
  store: Store;
  logger: Logger;
}

/** What the control channel asks of the store (control/control.ports.ts), from its repositories. */
function controlStore(store: Store): ControlStore & { readonly sql: Store['sql']; readonly driver: Store['driver'] } {
  return {
    claimEnrollment: (hash, name, refuse) => claimEnrollment(store, hash, name, refuse),
    getEnforcer: (name) => store.enforcers.getAuth(name),
    upsertEnforcer: (name, certSerial) => store.enforcers.upsert(name, certSerial),
    setEnforcerCertSerial: (name, certSerial) => store.enforcers.setCertSerial(name, certSerial),
    recordEnforcerSeen: (name, update) => store.enforcers.recordSeen(name, update),
    recordLearnedNames: (name, total, names) => store.learnedNames.replace(name, total, names),
    revokeEnforcer: (name) => store.enforcers.revoke(name),
    notifyRevocation: (enforcer) => store.notifications.notifyRevocation(enforcer),
    listenRevocations: (cb) => store.notifications.listenRevocations(cb),
    // control.service.ts keeps its enforcer scopes (migration 111) over the SQL itself.
    get sql() {
      return store.sql;
    },
    // A shared PostgreSQL holds the site's CAs (keys/site-ca.ts).
    get driver() {
      return store.driver;
    },
  };
}

/**
 * What every feature module may inject: STORE, CONFIG, LOGGER (symbols in ./di-tokens),
 * the store's repositories (one per aggregate, by class), BundleService,
 * CurrentGeneration, TokensService, AuditService, MetricsService. Global: it is the
 * process's context (the values main.ts opened before Nest starts), which a static
 * feature module has no other way to import; features import each other explicitly.
 */
const REPOSITORY_OF = new Map<Type, (s: Store) => unknown>([
  [DocumentRepository, (s) => s.documents],
  [IdentityRepository, (s) => s.identities],
  [QuarantineRepository, (s) => s.quarantine],
  [AuditRepository, (s) => s.audit],
  [TokenRepository, (s) => s.tokens],
  [EnforcerRepository, (s) => s.enforcers],
  [CredentialRepository, (s) => s.credentials],
  [SecurityEventRepository, (s) => s.securityEvents],
  [IncidentRepository, (s) => s.incidents],
  [LearnedNamesRepository, (s) => s.learnedNames],
  [UnknownDeviceRepository, (s) => s.unknownDevices],
  [PlaintextTallyRepository, (s) => s.plaintextTallies],
  [ObservedFlowRepository, (s) => s.observedFlows],
  [BaselineRepository, (s) => s.baselines],
]);
const repositories = [...REPOSITORY_OF.keys()];
const repositoryOf = (store: Store, r: Type) => REPOSITORY_OF.get(r)!(store);

@Global()
@Module({})
export class CoreModule {
  static forRoot(ctx: AppContext): DynamicModule {
    const services: Type[] = [BundleService, CurrentGeneration, TokensService, AuditService, MetricsService, EnforcerLabels, EnforcerPlacement];
    return {
      module: CoreModule,
      providers: [
        { provide: STORE, useValue: ctx.store },
        { provide: CONFIG, useValue: ctx.config },
        { provide: LOGGER, useValue: ctx.logger },
        ...repositories.map((r) => ({ provide: r, useFactory: (store: Store) => repositoryOf(store, r), inject: [STORE] })),
        ...services,
        // What the control channel asks for (control/control.ports.ts), from the same instances.
        { provide: CONTROL_STORE, useFactory: controlStore, inject: [STORE] },
        { provide: GENERATION_SOURCE, useExisting: CurrentGeneration },
        { provide: PLACEMENT_SOURCE, useExisting: EnforcerPlacement },
        {
          provide: CONTROL_CONFIG,
          useValue: {
            grpc: ctx.config.grpcAddress,
            dataDir: ctx.config.dataDir,
            stream: { rowsPerSecond: ctx.config.streamRowsPerSecond, perToken: ctx.config.streamsPerToken },
          } satisfies ControlConfig,
        },
      ],
      exports: [STORE, CONFIG, LOGGER, ...repositories, ...services, CONTROL_STORE, GENERATION_SOURCE, PLACEMENT_SOURCE, CONTROL_CONFIG],
    };
  }
}

@Module({})
export class AppModule {
  static forRoot(ctx: AppContext): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(ctx), ControlModule, ApplyModule, ConsoleModule, CredentialsModule, MonitoringModule, RecommendModule, MudModule, PlaintextModule, GrantsModule],
      controllers: [
        HealthController,
        OpenApiController,
        DocumentsController,
        BundlesController,
        TraceController,
        AuditController,
        TokensController,
        EnforcersController,
        FqdnController,
        LabelsController,
        QuarantineController,
      ],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }, FleetService, FleetMetrics],
    };
  }
}
