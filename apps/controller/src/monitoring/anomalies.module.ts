// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ApplyModule } from '../apply/apply.module';
import { AnomalyService } from './anomalies.service';
import { EventsModule } from './events.module';
import { SiteViewModule } from './site-view.module';

/** Baselines, anomalies and incidents (anomalies.service.ts); quarantines through ApplyService. */
@Module({ imports: [ApplyModule, SiteViewModule, EventsModule], providers: [AnomalyService], exports: [AnomalyService] })
export class AnomaliesModule {}
