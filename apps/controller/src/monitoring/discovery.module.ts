// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { DiscoveryService } from './discovery.service';
import { EventsModule } from './events.module';
import { SiteViewModule } from './site-view.module';

/** Unknown devices: sources no Device claims (discovery.service.ts). */
@Module({ imports: [SiteViewModule, EventsModule], providers: [DiscoveryService], exports: [DiscoveryService] })
export class DiscoveryModule {}
