// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ApplyModule } from '../apply/apply.module';
import { CredentialsModule } from '../credentials/credentials.module';
import { EventsModule } from './events.module';
import { PostureService } from './posture.service';
import { SiteViewModule } from './site-view.module';

/** Posture and quarantine (posture.service.ts); PostureRule `credential: valid` asks the credentials feature. */
@Module({ imports: [ApplyModule, SiteViewModule, EventsModule, CredentialsModule], providers: [PostureService], exports: [PostureService] })
export class PostureModule {}
