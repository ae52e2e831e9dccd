// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ApplyModule } from '../apply/apply.module';
import { MudController } from './mud.controller';

/** MUD (RFC 8520) files imported as policy: POST /v1/mud/import. */
@Module({ imports: [ApplyModule], controllers: [MudController] })
export class MudModule {}
