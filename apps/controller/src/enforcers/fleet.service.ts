// SPDX-License-Identifier: Apache-2.0
/**
 * The fleet status of every enforcer of the site (fleet-row.ts), read from the
 * shared store: the enforcers, the streams every controller records
 * (control/enforcer-streams.repo.ts) and the newest generation. What any
 * controller of the site answers is the same.
 */
import { Inject, Injectable } from '@nestjs/common';
import { STORE } from '../di-tokens';
import type { Store } from '../store/store';
import { EnforcerStreams } from '../control/enforcer-streams.repo';
import { fleetRow, type FleetRow } from './fleet-row';

@Injectable()
export class FleetService {
  private readonly streams: EnforcerStreams;

  constructor(@Inject(STORE) private readonly store: Store) {
    this.streams = new EnforcerStreams(store.sql);
  }

  async list(): Promise<FleetRow[]> {
    const [enforcers, connections, current] = await Promise.all([this.store.enforcers.list(), this.streams.connections(), this.store.latestGeneration()]);
    return enforcers.map((e) => fleetRow(e, connections.get(e.name) ?? null, current));
  }

  async get(name: string): Promise<FleetRow | null> {
    const e = await this.store.enforcers.get(name);
    if (!e) return null;
    const [connections, current] = await Promise.all([this.streams.connections(), this.store.latestGeneration()]);
    return fleetRow(e, connections.get(name) ?? null, current);
  }
}
