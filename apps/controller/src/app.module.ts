import { DynamicModule, Global, Module, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Logger } from 'pino';
import { ApplyController } from './apply/apply.controller';
import { ApplyService } from './apply/apply.service';
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
import { PlaintextModule } from './plaintext/plaintext.module';
import { GENERATION_SOURCE, CONTROL_CONFIG, CONTROL_STORE, type ControlConfig } from './control/control.ports';
import { DocumentsController } from './documents/documents.controller';
import { EnforcersController } from './enforcers/enforcers.controller';
import { OpenApiController } from './http/openapi';
import { HealthController } from './metrics/health.controller';
import { MetricsService } from './metrics/metrics.service';
import { QuarantineController } from './quarantine/quarantine.controller';
import type { Store } from './store/store';
import { TokensController } from './tokens/tokens.controller';
import { TokensService } from './tokens/tokens.service';
import { CONFIG, LOGGER, STORE } from './tokens';
import { TraceController } from './trace/trace.controller';

export interface AppContext {
  config: ControllerConfig;
  store: Store;
  logger: Logger;
}

/**
 * What every feature module may inject: STORE, CONFIG, LOGGER (symbols in ./tokens),
 * BundleService, CurrentGeneration, TokensService, AuditService, ApplyService, MetricsService.
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot(ctx: AppContext): DynamicModule {
    const services: Type[] = [BundleService, CurrentGeneration, TokensService, AuditService, ApplyService, MetricsService];
    return {
      module: CoreModule,
      providers: [
        { provide: STORE, useValue: ctx.store },
        { provide: CONFIG, useValue: ctx.config },
        { provide: LOGGER, useValue: ctx.logger },
        ...services,
        // What the control channel asks for (control/control.ports.ts), from the same instances.
        { provide: CONTROL_STORE, useExisting: STORE },
        { provide: GENERATION_SOURCE, useExisting: CurrentGeneration },
        { provide: CONTROL_CONFIG, useValue: { grpc: ctx.config.grpcAddress, dataDir: ctx.config.dataDir } satisfies ControlConfig },
      ],
      exports: [STORE, CONFIG, LOGGER, ...services, CONTROL_STORE, GENERATION_SOURCE, CONTROL_CONFIG],
    };
  }
}

@Module({})
export class AppModule {
  static forRoot(ctx: AppContext): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(ctx), ControlModule, ConsoleModule, CredentialsModule, MonitoringModule, PlaintextModule],
      controllers: [
        HealthController,
        OpenApiController,
        ApplyController,
        DocumentsController,
        BundlesController,
        TraceController,
        AuditController,
        TokensController,
        EnforcersController,
        QuarantineController,
      ],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
    };
  }
}
