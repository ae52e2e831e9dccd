// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ApplyModule } from '../apply/apply.module';
import { GrantsController } from './grants.controller';
import { GrantsService } from './grants.service';

/** Temporary access (cordon grant): /v1/grants, and the removal of expired grants. */
@Module({ imports: [ApplyModule], controllers: [GrantsController], providers: [GrantsService] })
export class GrantsModule {}
