// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ControlModule } from '../control/control.module';
import { EventsModule } from '../monitoring/events.module';
import { SiteViewModule } from '../monitoring/site-view.module';
import { SiemService } from './siem.service';

/** Security events to syslog, and signed audit checkpoints (with the control channel's key). */
@Module({ imports: [EventsModule, SiteViewModule, ControlModule], providers: [SiemService], exports: [SiemService] })
export class SiemModule {}
