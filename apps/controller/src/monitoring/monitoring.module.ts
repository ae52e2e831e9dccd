// SPDX-License-Identifier: Apache-2.0
import { Global, Module } from '@nestjs/common';
import { MudController } from '../mud/mud.controller';
import { RecommendController } from '../recommend/recommend.controller';
import { SiemService } from '../siem/siem.service';
import { FLOW_SINK } from './flow-sink';
import { MonitoringController } from './monitoring.controller';
import { MonitoringService } from './monitoring.service';
import { PostureService } from './posture.service';

/**
 * Continuous verification (issue 6): discovery, baselines and anomalies,
 * posture and quarantine, SIEM export, least-privilege tooling.
 * Global so the control module can inject FLOW_SINK without importing this one.
 * Optional input: CREDENTIAL_STATUS_PROVIDER (monitoring/posture.ts).
 */
@Global()
@Module({
  providers: [MonitoringService, PostureService, SiemService, { provide: FLOW_SINK, useExisting: MonitoringService }],
  controllers: [MonitoringController, RecommendController, MudController],
  exports: [MonitoringService, FLOW_SINK],
})
export class MonitoringModule {}
