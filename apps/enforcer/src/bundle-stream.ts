// SPDX-License-Identifier: Apache-2.0
/**
 * The policy stream: WatchBundles from the generation the keeper holds, each
 * update handed to the GenerationApplier, reopened with backoff when lost
 * (enforcement never depends on it), and handed over to a new client without
 * a gap when the certificate is renewed.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RawControlClient } from '../../../proto/cordon/v1/client';
import type { BundleUpdate } from '../../../proto/cordon/v1/control';
import { Backoff, sleep } from './backoff';
import type { BundleKeeper } from './bundle-keeper';
import type { GenerationApplier } from './generation-applier';
import type { EnforcerMetrics } from './metrics';

interface Watch {
  call: grpc.ClientReadableStream<BundleUpdate>;
  accepted: Promise<boolean>;
  done: Promise<grpc.ServiceError | null>;
  /** Given up: no connection to the controller within connectTimeoutMs (cancelled by us, but a lost controller). */
  unanswered?: boolean;
}

/**
 * How long a watch may wait for its connection (TCP, TLS, HTTP/2) before the controller counts as lost. Once the
 * connection is up, gRPC keepalive (proto/cordon/v1/control.ts KEEPALIVE) finds a silent controller; before, nothing
 * does: grpc-js has no connect timeout, and a controller that froze (or a host that died) after the TCP handshake
 * left the watch waiting on a TLS answer for ever. Far longer than a keepalive's time + timeout: a controller
 * taking over a dead one's enforcers (or 3,000 of them starting at once) answers handshakes late, and giving it up
 * moves the load on and adds to it (with 10 s, the controllers bench's 3,000 simulated enforcers connecting on 2
 * cores gave up 29,074 streams instead of ~100, and a take-over 2,366 instead of the 966 moved).
 */
export const CONNECT_TIMEOUT_MS = 30_000;

export interface BundleStreamDeps {
  name: () => string;
  /** Its --label flags (the controller selects what applies here by them). */
  labels: () => Record<string, string>;
  client: () => RawControlClient;
  keeper: BundleKeeper;
  applier: GenerationApplier;
  metrics: EnforcerMetrics;
  log: Logger;
  stopped: () => boolean;
  abort: AbortSignal;
  /** After a generation is applied and kept. */
  onApplied: () => void;
  /** The controller accepted the watch (controller-pool.ts: a healthy controller). */
  onAccepted?: () => void;
  /** The watch could not be opened or was lost: returns the wait before the next try (the pool moves to another controller). */
  onLost?: (why: string) => number;
  /** CONNECT_TIMEOUT_MS unless given (tests). */
  connectTimeoutMs?: number;
}

/** Whether a client's connection is up (a fake client without a channel counts as up: nothing to time out). */
function connected(client: RawControlClient): boolean {
  const channel = (client as Partial<grpc.Client>).getChannel?.();
  return !channel || channel.getConnectivityState(false) === grpc.connectivityState.READY;
}

/** TLS errors of a controller whose CA is not the one this enforcer's certificate trusts. */
const FOREIGN_CHAIN = /self[- ]signed certificate|unable to get local issuer|unable to verify the first certificate|certificate verify failed|unknown ca/i;
const FOREIGN_CHAIN_HINT =
  ': the controller presents a CA this enforcer was not enrolled under (a reinstalled controller, a moved gateway?); restart the enforcer with a join string from `cordon token create` on that controller as --token, and it enrolls anew';

export class BundleStream {
  private watch: Watch | null = null;
  /** A watch is open and the controller accepted it. */
  connected = false;

  constructor(private readonly d: BundleStreamDeps) {}

  /** Runs until stopped. */
  async run(): Promise<void> {
    const backoff = new Backoff(500, 30_000);
    while (!this.d.stopped()) {
      if (!this.watch) this.watch = this.open(this.d.client());
      const w = this.watch;
      void w.accepted.then((ok) => {
        if (ok && this.watch === w) {
          backoff.reset();
          this.d.onAccepted?.();
          this.connected = true;
          this.d.metrics.connected.set(1);
        }
      });
      const err = await w.done;
      if (this.watch !== w) continue; // handed over to a new stream (renewal)
      this.watch = null;
      this.connected = false;
      this.d.metrics.connected.set(0);
      if (this.d.stopped()) break;
      let ms: number;
      const connectTimeoutMs = this.d.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
      if (w.unanswered) ms = this.d.onLost ? this.d.onLost(`no connection within ${connectTimeoutMs} ms`) : backoff.next();
      else if (err?.code === grpc.status.CANCELLED) ms = 0; // we cancelled it ourselves to re-sync
      else if (err?.code === grpc.status.PERMISSION_DENIED) ms = 30_000; // revoked (on every controller): keep enforcing, poll slowly
      else ms = this.d.onLost ? this.d.onLost(err ? `${grpc.status[err.code]}: ${err.details}` : 'stream ended') : backoff.next();
      if (w.unanswered) {
        this.d.log.warn({ retryInMs: ms }, `policy stream: no connection to the controller within ${connectTimeoutMs} ms; enforcing the last generation meanwhile`);
      } else if (err && err.code !== grpc.status.CANCELLED) {
        this.d.log.warn({ code: grpc.status[err.code], err: err.details, retryInMs: ms }, `policy stream lost; enforcing the last generation meanwhile${FOREIGN_CHAIN.test(err.details ?? '') ? FOREIGN_CHAIN_HINT : ''}`);
      }
      await sleep(ms, this.d.abort);
    }
  }

  /** Make before break: a stream on the new client must be accepted before the old one goes. */
  async handOver(client: RawControlClient): Promise<void> {
    const old = this.watch;
    if (!old) return;
    const w = this.open(client);
    if (await Promise.race([w.accepted, sleep(10_000, this.d.abort).then(() => false)])) {
      this.watch = w;
      old.call.cancel();
    } else {
      w.call.cancel();
    }
  }

  cancel(): void {
    this.watch?.call.cancel();
  }

  private open(client: RawControlClient): Watch {
    const cur = this.d.keeper.current;
    const call = client.WatchBundles({ enforcer: this.d.name(), lastGeneration: cur?.generation ?? 0, lastHash: cur?.hash ?? '', labels: this.d.labels() });
    let accept!: (ok: boolean) => void;
    const accepted = new Promise<boolean>((r) => (accept = r));
    // No answer and no connection after connectTimeoutMs: given up (run() moves on). Connected: keepalive's case.
    const timer = setTimeout(() => {
      if (connected(client)) return;
      w.unanswered = true;
      call.cancel();
    }, this.d.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
    timer.unref();
    void accepted.then(() => clearTimeout(timer));
    const w: Watch = {
      call,
      accepted,
      done: new Promise((resolve) => {
        call.on('metadata', () => accept(true));
        call.on('data', (u: BundleUpdate) => {
          accept(true);
          this.d.applier.onUpdate(u, () => this.watch === w, () => w.call.cancel(), this.d.onApplied);
        });
        call.on('error', (e: grpc.ServiceError) => {
          accept(false);
          resolve(e);
        });
        call.on('end', () => {
          accept(false);
          resolve(null);
        });
      }),
    };
    return w;
  }
}
