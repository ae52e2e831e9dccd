// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ControlController } from './control.controller';
import { ControlService } from './control.service';

/**
 * The control channel: enforcer CA, the Control gRPC service (enroll, renew,
 * bundle watch, flow and status reports) and its REST endpoints.
 * Needs (from the global CoreModule): CONTROL_CONFIG, CONTROL_STORE, BUNDLE_SOURCE,
 * LOGGER, MetricsService, AuditService.
 */
@Module({
  providers: [ControlService],
  controllers: [ControlController],
  exports: [ControlService],
})
export class ControlModule {}
