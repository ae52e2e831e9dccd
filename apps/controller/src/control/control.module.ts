// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ControlController } from './control.controller';
import { ControlService } from './control.service';
import { FlowStreamController } from './flow-stream.controller';
import { FlowStreamService } from './flow-stream.service';
import { ControlFeeds, DERIVED_STATE, FLOW_FEED, DROP_EVENTS, MUD_ANNOUNCEMENTS } from './feeds';
import { VersionController } from '../version/version.controller';

/**
 * The control channel: enforcer CA, the Control gRPC service (enroll, renew,
 * bundle watch, flow and status reports) and its REST endpoints.
 * Needs (from the global CoreModule): CONTROL_CONFIG, CONTROL_STORE, GENERATION_SOURCE,
 * LOGGER, MetricsService, AuditService.
 *
 * Exports FLOW_FEED, DROP_EVENTS, MUD_ANNOUNCEMENTS and DERIVED_STATE (./feeds.ts documents them) to the modules that import it.
 */
@Module({
  providers: [
    ControlFeeds,
    { provide: FLOW_FEED, useFactory: (f: ControlFeeds) => f.flows, inject: [ControlFeeds] },
    { provide: DROP_EVENTS, useFactory: (f: ControlFeeds) => f.events, inject: [ControlFeeds] },
    { provide: MUD_ANNOUNCEMENTS, useFactory: (f: ControlFeeds) => f.mud, inject: [ControlFeeds] },
    { provide: DERIVED_STATE, useFactory: (f: ControlFeeds) => f.derivedState, inject: [ControlFeeds] },
    ControlService,
    FlowStreamService,
  ],
  // VersionController here: it reads the enforcers' reported versions from ControlService.
  controllers: [ControlController, FlowStreamController, VersionController],
  exports: [ControlService, FLOW_FEED, DROP_EVENTS, MUD_ANNOUNCEMENTS, DERIVED_STATE],
})
export class ControlModule {}
