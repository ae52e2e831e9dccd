// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ControlModule } from '../control/control.module';
import { DiscoveryService } from './discovery.service';
import { EventsModule } from './events.module';
import { SiteViewModule } from './site-view.module';

/** Unknown devices: sources no Device claims (discovery.service.ts). */
@Module({ imports: [SiteViewModule, EventsModule, ControlModule], providers: [DiscoveryService], exports: [DiscoveryService] })
export class DiscoveryModule {}
