// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { AnomalyService } from './anomalies.service';
import { EventsModule } from './events.module';
import { SiteViewModule } from './site-view.module';

/** Baselines, anomalies and incidents (anomalies.service.ts); quarantines through ApplyService. */
@Module({ imports: [SiteViewModule, EventsModule], providers: [AnomalyService], exports: [AnomalyService] })
export class AnomaliesModule {}
