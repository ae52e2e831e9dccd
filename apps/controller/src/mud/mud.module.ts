// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ApplyModule } from '../apply/apply.module';
import { ControlModule } from '../control/control.module';
import { CredentialsModule } from '../credentials/credentials.module';
import { MudController } from './mud.controller';
import { MudManager } from './mud-manager.service';

/** MUD (RFC 8520): files imported as policy, and the MUD manager's proposals for devices that announce a MUD URL. */
@Module({ imports: [ApplyModule, ControlModule, CredentialsModule], controllers: [MudController], providers: [MudManager], exports: [MudManager] })
export class MudModule {}
