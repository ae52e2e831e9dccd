// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ControlModule } from '../control/control.module';
import { PlaintextController } from './plaintext.controller';
import { PlaintextService } from './plaintext.service';

/**
 * Traffic in clear (issue 7, DESIGN.md "Encryption and keys"): flows by the
 * datapath's class of their first payload, per device and segment — the
 * report `GET /v1/report/plaintext` (`cordon report plaintext`) and the
 * cordon_*_by_encryption_total metrics. Reads FLOW_FEED (control module).
 */
@Module({
  imports: [ControlModule],
  controllers: [PlaintextController],
  providers: [PlaintextService],
  exports: [PlaintextService],
})
export class PlaintextModule {}
