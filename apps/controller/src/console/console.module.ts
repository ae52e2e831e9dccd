// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';

/** The web console at `/` (apps/console, built by npm run build:console). */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
