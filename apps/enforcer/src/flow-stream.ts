// SPDX-License-Identifier: Apache-2.0
/**
 * The flow stream: StreamFlows carrying the collector's queued batches, in
 * order. A batch leaves the queue only once the controller acknowledges it
 * (it recorded the batch's sequence number in the site's database), so a
 * stream lost mid-batch, a controller that died, or a client replaced on
 * renewal loses nothing: the next stream, to whichever controller is current,
 * sends every unacknowledged batch again, and the controller deduplicates by
 * (enforcer, run, seq).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RawControlClient } from '../../../proto/cordon/v1/client';
import type { FlowAck, FlowBatch } from '../../../proto/cordon/v1/control';
import { Backoff, sleep } from './backoff';
import type { FlowCollector } from './flow-collector';
import type { BoundedQueue } from './flow-collector-queue';

export interface FlowStreamDeps {
  collector: () => FlowCollector;
  client: () => RawControlClient;
  /** Upper bound of the idle wait, ms. */
  intervalMs: number;
  log: Logger;
  stopped: () => boolean;
  abort: AbortSignal;
  /** Each acknowledgement (duplicate: the controller had taken the batch before), and what is left unacknowledged. */
  onAck?: (duplicate: boolean, unacknowledged: number) => void;
}

export class FlowStream {
  private stream: grpc.ClientDuplexStream<FlowBatch, FlowAck> | null = null;
  /** Wakes the loop when a batch is queued, so it does not sit out its idle wait. */
  private wakeUp: (() => void) | null = null;

  constructor(private readonly d: FlowStreamDeps) {}

  wake(): void {
    this.wakeUp?.();
  }

  /** Ends the open stream (the loop reopens it, on the current client). */
  end(): void {
    this.stream?.end();
    this.wake();
  }

  async run(): Promise<void> {
    const backoff = new Backoff(1000, 30_000);
    while (!this.d.stopped()) {
      const queue = this.d.collector().queue;
      if (queue.length === 0) {
        await this.idle();
        continue;
      }
      const err = await this.session(this.d.client(), queue, backoff);
      this.stream = null;
      if (this.d.stopped()) break;
      if (err && err.code !== grpc.status.OK) {
        const ms = backoff.next();
        this.d.log.debug({ err: err.details, retryInMs: ms, unacknowledged: queue.length }, 'flow stream lost; unacknowledged batches stay queued and are sent again');
        await sleep(ms, this.d.abort);
      }
    }
  }

  /** One StreamFlows call: writes every queued batch not yet written on it, drops each from the queue when acknowledged. */
  private session(client: RawControlClient, queue: BoundedQueue<FlowBatch>, backoff: Backoff): Promise<grpc.ServiceError | null> {
    return new Promise((resolve) => {
      const s = client.StreamFlows();
      this.stream = s;
      let closed = false;
      let written = 0; // the last seq written on this stream
      const finish = (e: grpc.ServiceError | null) => {
        if (closed) return;
        closed = true;
        this.wake();
        resolve(e);
      };
      s.on('data', (ack: FlowAck) => {
        queue.shiftWhile((b) => b.seq <= ack.lastSeq);
        this.d.onAck?.(ack.duplicate === true, queue.length);
        backoff.reset();
      });
      s.on('error', (e: grpc.ServiceError) => finish(e));
      s.on('end', () => finish(null));
      const pump = async () => {
        while (!closed && !this.d.stopped() && this.stream === s && this.d.client() === client) {
          const b = queue.find((x) => x.seq > written);
          if (!b) {
            await this.idle();
            continue;
          }
          const ok = await new Promise<boolean>((r) => s.write({ ...b, droppedBatches: queue.dropped }, (e: unknown) => r(!e)));
          if (!ok) break;
          written = b.seq;
        }
        // Half-close: the controller acknowledges what it has and ends the call.
        if (!closed) s.end();
        setTimeout(() => {
          if (!closed) s.cancel();
        }, 5000).unref();
      };
      void pump();
    });
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
