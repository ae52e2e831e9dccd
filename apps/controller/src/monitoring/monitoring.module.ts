// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ApplyModule } from '../apply/apply.module';
import { ControlModule } from '../control/control.module';
import { SiemModule } from '../siem/siem.module';
import { AnomaliesModule } from './anomalies.module';
import { DiscoveryModule } from './discovery.module';
import { EventsModule } from './events.module';
import { FLOW_SINK } from './flow-sink';
import { MonitoringController } from './monitoring.controller';
import { MonitoringService } from './monitoring.service';
import { ObservedFlowsService } from './observed-flows.service';
import { PostureModule } from './posture.module';
import { SiteViewModule } from './site-view.module';

/**
 * Continuous verification (issue 6): flow records from the control channel's
 * FLOW_FEED into discovery, anomalies and observed flows; a tick that runs
 * posture and tails the audit log; the REST endpoints of all of it.
 * Exports MonitoringService (observed flows, FLOW_SINK) and, through the
 * modules it imports, SiteView.
 */
@Module({
  imports: [ApplyModule, ControlModule, SiteViewModule, EventsModule, DiscoveryModule, AnomaliesModule, PostureModule, SiemModule],
  providers: [MonitoringService, ObservedFlowsService, { provide: FLOW_SINK, useExisting: MonitoringService }],
  controllers: [MonitoringController],
  exports: [MonitoringService, FLOW_SINK, SiteViewModule],
})
export class MonitoringModule {}
