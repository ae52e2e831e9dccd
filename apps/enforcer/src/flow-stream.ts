// SPDX-License-Identifier: Apache-2.0
/**
 * The flow stream: ReportFlows carrying the collector's queued batches, in
 * order; a batch leaves the queue only once written, so a lost stream (or a
 * client replaced on renewal) loses nothing but is reopened with backoff.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RawControlClient } from '../../../proto/cordon/v1/client';
import type { FlowAck } from '../../../proto/cordon/v1/control';
import { Backoff, sleep } from './backoff';
import type { FlowCollector } from './flow-collector';

export interface FlowStreamDeps {
  collector: () => FlowCollector;
  client: () => RawControlClient;
  /** Upper bound of the idle wait, ms. */
  intervalMs: number;
  log: Logger;
  stopped: () => boolean;
  abort: AbortSignal;
}

export class FlowStream {
  private stream: grpc.ClientWritableStream<unknown> | null = null;
  /** Wakes the loop when a batch is queued, so it does not sit out its idle wait. */
  private wakeUp: (() => void) | null = null;

  constructor(private readonly d: FlowStreamDeps) {}

  wake(): void {
    this.wakeUp?.();
  }

  /** Ends the open stream (the loop reopens it, on the current client). */
  end(): void {
    this.stream?.end();
  }

  async run(): Promise<void> {
    const backoff = new Backoff(1000, 30_000);
    while (!this.d.stopped()) {
      const queue = this.d.collector().queue;
      if (queue.length === 0) {
        await this.idle();
        continue;
      }
      const client = this.d.client();
      const result = await new Promise<grpc.ServiceError | FlowAck | undefined>((resolve) => {
        const s = client.ReportFlows(new grpc.Metadata(), {}, (err, ack) => resolve(err ?? ack));
        this.stream = s as unknown as grpc.ClientWritableStream<unknown>;
        const pump = async () => {
          while (!this.d.stopped() && this.stream === (s as unknown) && this.d.client() === client) {
            const b = queue.peek();
            if (!b) {
              await this.idle();
              continue;
            }
            const ok = await new Promise<boolean>((r) => s.write({ ...b, droppedBatches: queue.dropped }, (e: unknown) => r(!e)));
            if (!ok) return;
            if (queue.peek() === b) queue.shift();
            backoff.reset();
          }
          s.end();
        };
        void pump();
      });
      this.stream = null;
      if (this.d.stopped()) break;
      if (result && 'code' in result && result.code !== grpc.status.OK) {
        const ms = backoff.next();
        this.d.log.debug({ err: result.details, retryInMs: ms }, 'flow stream lost; batches stay queued');
        await sleep(ms, this.d.abort);
      }
    }
  }

  /** Waits for a queued batch (or a second at most, to notice a stop or a new client). */
  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = null;
        resolve();
      };
      const t = setTimeout(done, Math.min(1000, this.d.intervalMs));
      t.unref();
      this.wakeUp = done;
      if (this.d.stopped()) done();
    });
  }
}
