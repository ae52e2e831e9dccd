// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { MonitoringModule } from '../monitoring/monitoring.module';
import { RecommendController } from './recommend.controller';

/** Least-privilege tooling over what monitoring observed: GET /v1/recommend, GET /v1/report/unused. */
@Module({ imports: [MonitoringModule], controllers: [RecommendController] })
export class RecommendModule {}
