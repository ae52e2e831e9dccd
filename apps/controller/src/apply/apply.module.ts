// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ControlModule } from '../control/control.module';
import { ApplyController } from './apply.controller';
import { ApplyService } from './apply.service';

/**
 * Changes to the policy (apply, delete, quarantine): validated, compiled, stored
 * as a new generation, audited. Imports the control channel for the flows its
 * enforcers reported (a plan's flow impact).
 */
@Module({ imports: [ControlModule], controllers: [ApplyController], providers: [ApplyService], exports: [ApplyService] })
export class ApplyModule {}
