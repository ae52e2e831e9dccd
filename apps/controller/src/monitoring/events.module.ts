// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { SecurityEvents } from './security-events.service';

/** The security event stream (stored, on the bus, the audit log tailed into it). Needs the store's repositories. */
@Module({ providers: [SecurityEvents], exports: [SecurityEvents] })
export class EventsModule {}
