// SPDX-License-Identifier: Apache-2.0
import * as grpc from '@grpc/grpc-js';
import type { Bundle } from '../../model/generation/bundle';
import { applyDelta } from '../../model/generation/delta';
import { deltaFromWire, fromSnapshot } from '../../proto/cordon/v1/bundle';
import type { controlClient } from '../../proto/cordon/v1/client';
import type { BundleUpdate } from '../../proto/cordon/v1/control';

/** A bundle stream as an enforcer holds it: snapshots and deltas applied with the model's own code (model/generation/delta.ts). */
export class Holder {
  bundle: Bundle | null = null;
  updates: BundleUpdate[] = [];
  readonly ended: Promise<grpc.ServiceError | null>;
  readonly call: grpc.ClientReadableStream<BundleUpdate>;
  constructor(client: ReturnType<typeof controlClient>, name: string, labels: Record<string, string>) {
    this.call = client.WatchBundles({ enforcer: name, lastGeneration: 0, lastHash: '', labels });
    this.call.on('data', (u: BundleUpdate) => {
      this.updates.push(u);
      this.bundle = u.snapshot ? fromSnapshot(u.generation, u.hash, u.snapshot) : applyDelta(this.bundle!, deltaFromWire(u.delta!, u.generation, u.hash));
    });
    this.ended = new Promise((resolve) => {
      this.call.on('error', (e: grpc.ServiceError) => resolve(e));
      this.call.on('end', () => resolve(null));
    });
  }
  cidrs(): string[] {
    return (this.bundle?.ipcache ?? []).map((e) => e.cidr).sort();
  }
}

