// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { MudController } from './mud.controller';

/** MUD (RFC 8520) files imported as policy: POST /v1/mud/import. */
@Module({ controllers: [MudController] })
export class MudModule {}
