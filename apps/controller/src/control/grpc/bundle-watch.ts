// SPDX-License-Identifier: Apache-2.0
/**
 * WatchBundles: each generation the controller publishes goes to the enforcer
 * as the stored delta from the generation it holds (CurrentGeneration.deltaTo),
 * or whole when it holds none we know, with that hash, or the delta would be
 * most of the generation. Generations published while one is being written
 * coalesce: the newest is sent next.
 *
 * With a PlacementSource, each enforcer gets its own view of the generation
 * (the labels it reports, with the controller's overrides: placement/), and a
 * change of its labels re-sends what changed for it.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Bundle, BundleDelta } from '../../../../../model/generation/bundle';
import { deltaSize } from '../../../../../model/generation/delta';
import { bundleUpdate } from '../../../../../proto/cordon/v1/bundle';
import type { BundleUpdate, WatchRequest } from '../../../../../proto/cordon/v1/control';
import type { GenerationSource } from '../control.ports';
import type { PlacementSource, Published } from '../placement.port';
import { Sessions } from '../sessions';
import { invalid, type Identified, PeerAuth, RpcError } from './peer-auth';
import { checkWatch } from './validate';

const S = grpc.status;

/** A delta larger than half the generation is no saving: send it whole. */
function worthSending(d: BundleDelta, to: Bundle): boolean {
  return deltaSize(d) <= (to.ipcache.length + to.policy.length) / 2 + 16;
}

export class BundleWatch {
  constructor(
    private readonly d: { generations: GenerationSource; sessions: Sessions; auth: PeerAuth; log: Logger; placement?: PlacementSource },
  ) {}

  async handle(call: grpc.ServerWritableStream<WatchRequest, BundleUpdate>): Promise<void> {
    let closed = false;
    const end = (code: grpc.status, details: string) => {
      if (closed) return;
      closed = true;
      call.emit('error', { code, details });
    };
    let id: Identified;
    try {
      const p = checkWatch(call.request);
      if (p) throw invalid(p);
      id = await this.d.auth.identify(call);
      if (call.request.enforcer !== id.peer.name) throw new RpcError(S.PERMISSION_DENIED, `enforcer "${call.request.enforcer}" does not match the certificate's "${id.peer.name}"`);
    } catch (err) {
      const s = this.d.auth.toStatus(err);
      return end(s.code ?? S.INTERNAL, s.details ?? 'error');
    }

    const peer = id.peer;
    let sub: { unsubscribe(): void } | null = null;
    const session = { enforcer: peer.name, serial: peer.serial, kind: 'watch' as const, cut: end, pending: true };
    const unregister = this.d.sessions.add(session, peer.notAfter);
    if (!(await this.d.auth.admitRegistered(id, end))) return unregister();
    if (closed) return unregister(); // cut while the store answered (a revocation that found it registered)
    this.d.sessions.admitted(session);
    const cleanup = () => {
      closed = true;
      sub?.unsubscribe();
      unregister();
    };
    call.on('cancelled', cleanup);
    call.on('close', cleanup);
    call.on('finish', cleanup);
    call.on('error', cleanup);
    // Headers now, so the enforcer knows it was accepted even when it is up to date and nothing follows.
    call.sendMetadata(new grpc.Metadata());

    // What the enforcer holds: the base it names (checked against the store when a delta is read), then what we sent.
    const { lastGeneration, lastHash } = call.request;
    let held: { generation: number; hash: string } | null = lastGeneration > 0 ? { generation: lastGeneration, hash: lastHash } : null;
    const placement = this.d.placement;
    let published: Published | null = null;
    let labels: Record<string, string> | null = placement ? null : {};
    let chain = Promise.resolve();
    const push = () => {
      chain = chain
        .then(async () => {
          const at = published;
          if (closed || !at?.bundle || !labels) return;
          const cur = placement ? await placement.bundleFor(at, labels) : at.bundle;
          if (closed || !cur || at !== published) return; // a newer generation (or labels) follows

          // An empty hash names the generation only (as an enforcer without a hash would).
          if (held && held.generation === cur.generation && (held.hash === cur.hash || held.hash === '')) return;
          const delta = held ? await (placement ?? this.d.generations).deltaTo(cur, held) : null;
          if (closed) return;
          const update = bundleUpdate(cur, delta && worthSending(delta, cur) ? delta : null);
          this.d.log.debug({ enforcer: peer.name, generation: cur.generation, hash: cur.hash, body: update.delta ? 'delta' : 'snapshot' }, 'bundle sent');
          held = { generation: cur.generation, hash: cur.hash };
          if (!call.write(update)) await new Promise((r) => call.once('drain', r));
        })
        .catch((err) => end(S.INTERNAL, `bundle stream failed: ${(err as Error).message}`));
    };
    // published$ replays the current generation on subscribe, so the first push sends the snapshot (or delta).
    sub = this.d.generations.published$.subscribe({
      next: (g) => {
        if (!g.bundle) return;
        published = g;
        push();
      },
      complete: () => end(S.UNAVAILABLE, 'controller shutting down'),
    });
    if (placement) {
      const labelSub = placement.labels(peer.name, call.request.labels ?? {}).subscribe({
        next: (l) => {
          labels = l;
          // The same publication again: its view for the new labels.
          if (published) published = { ...published };
          push();
        },
        error: (err: Error) => end(S.INTERNAL, `reading the enforcer's labels failed: ${err.message}`),
      });
      const s0 = sub;
      sub = { unsubscribe: () => (s0.unsubscribe(), labelSub.unsubscribe()) };
    }
  }
}
