// SPDX-License-Identifier: Apache-2.0
/**
 * ReportFlows and StreamFlows: an enforcer's stream of flow batches. Each
 * batch is checked, cut to what the enforcer serves (flows/report-guard.ts),
 * counted by the aggregator, and handed to FLOW_FEED and DROP_EVENTS
 * (feeds.ts), events named with the current generation's segment and policy
 * names. StreamFlows first claims the batch's (enforcer, run, seq) in the
 * site's database (flows/flow-sequences.ts): a batch resent after a move, to
 * this controller or another, is acknowledged as a duplicate and not counted
 * again. It acknowledges a batch once what it fed is written behind
 * (control/derived-state.ts): a controller that dies before its flush loses
 * none of it, since the batch comes again and, its state still not marked
 * stored after RESENT_GRACE_MS, is fed again (not counted again). Only a first
 * controller stalled longer than that, which then resumes, feeds it twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { FlowAck, FlowBatch, WIRE_TO_VERDICT, WireSecurityEvent, wireToReason } from '../../../../../proto/cordon/v1/control';
import type { GenerationSource } from '../control.ports';
import type { ControlFeeds, ReportedDropEvent } from '../feeds';
import type { FlowAggregator } from '../flows/flow-aggregator';
import { MemoryFlowSequences, type FlowSequences } from '../flows/flow-sequences';
import type { ReportGuard } from '../flows/report-guard';
import { Sessions } from '../sessions';
import { type Identified, Peer, PeerAuth } from './peer-auth';
import { checkFlowBatch } from './validate';
import { STATE_FLUSH_MS } from '../../store/write-behind';

const S = grpc.status;

export interface FlowReportDeps {
  generations: GenerationSource;
  sessions: Sessions;
  auth: PeerAuth;
  flows: FlowAggregator;
  log: Logger;
  feeds?: ControlFeeds;
  guard?: ReportGuard;
  scopes?: { get(name: string): Promise<string[] | null> };
  /** Batches taken, shared by the controllers of the site; default: in memory. */
  sequences?: FlowSequences;
  /** Default RESENT_GRACE_MS. */
  resentGraceMs?: number;
}

/**
 * How long a resent batch whose state is not marked stored waits for its first
 * controller's mark before it is fed again: two write-behind intervals and the
 * time of a slow flush (store/write-behind.ts).
 */
export const RESENT_GRACE_MS = 2 * STATE_FLUSH_MS + 2000;

export class FlowReports {
  private readonly sequences: FlowSequences;
  constructor(private readonly d: FlowReportDeps) {
    this.sequences = d.sequences ?? new MemoryFlowSequences();
    this.resentGraceMs = d.resentGraceMs ?? RESENT_GRACE_MS;
  }

  /** Batches acknowledged as duplicates (resends), for tests and the metric. */
  duplicates = 0;
  /** Batches taken here whose derived state is not yet stored: their promise of it, by unstoredKey(). */
  private readonly unstored = new Map<string, Promise<void>>();
  private readonly resentGraceMs: number;

  /**
   * StreamFlows: each batch claimed and counted once, then acknowledged, in
   * order, once its derived state is in the store (afterStored()).
   */
  async handleStream(call: grpc.ServerDuplexStream<FlowBatch, FlowAck>): Promise<void> {
    let done = false;
    const finish = (err: Partial<grpc.StatusObject> | null) => {
      if (done) return;
      done = true;
      if (err) call.emit('error', err);
      else call.end();
    };
    call.pause();
    const peer = await this.open(call, finish);
    if (!peer) return;
    let acked = 0;
    let chain = Promise.resolve();
    let acks = Promise.resolve();
    let ending = false;
    call.on('data', (b: FlowBatch) => {
      if (done) return;
      const p = checkFlowBatch(b);
      if (p) return finish({ code: S.INVALID_ARGUMENT, details: p });
      if (b.enforcer !== peer.name) return finish({ code: S.PERMISSION_DENIED, details: `enforcer "${b.enforcer}" does not match the certificate's "${peer.name}"` });
      chain = chain.then(async () => {
        if (done) return;
        let fresh: boolean;
        let stored: Promise<void>;
        try {
          fresh = b.run ? await this.sequences.claim(peer.name, b.run, b.seq) : true;
          stored = fresh || !b.run ? this.takeFresh(peer.name, b) : (await this.takeResent(peer.name, b.run, b)).stored;
        } catch (err) {
          // not claimed (or not known whether its state was stored): the enforcer sends it again, here or to another controller
          this.d.log.warn({ enforcer: peer.name, seq: b.seq, err: String(err) }, 'a flow batch could not be claimed; the enforcer sends it again');
          return finish({ code: S.UNAVAILABLE, details: 'the batch could not be recorded; send it again' });
        }
        acks = acks
          .then(() => stored)
          .then(
            () => {
              acked++;
              if (!done) call.write({ batches: acked, lastSeq: b.seq, duplicate: !fresh });
            },
            (err) => {
              // not known whether its state is stored: not acknowledged, so it comes again
              this.d.log.warn({ enforcer: peer.name, seq: b.seq, err: String(err) }, 'a resent flow batch could not be checked; the enforcer sends it again');
              finish({ code: S.UNAVAILABLE, details: 'the batch could not be recorded; send it again' });
            },
          );
      });
    });
    const close = () => {
      peer.unregister();
      done = true;
    };
    call.on('end', () => {
      if (ending) return;
      ending = true;
      void chain
        .then(() => acks)
        .then(() => {
          peer.unregister();
          finish(null);
        });
    });
    call.on('error', close);
    call.on('cancelled', close);
    call.resume();
  }

  /** A batch first taken: counted, fed to the derived state; resolves once that state is stored. */
  private takeFresh(enforcer: string, b: FlowBatch): Promise<void> {
    try {
      this.take(enforcer, b);
    } catch (err) {
      // claimed, so a resend would be a duplicate: this batch is lost, and said so
      this.d.log.error({ enforcer, seq: b.seq, err: String(err) }, 'a claimed flow batch could not be taken: its records are lost');
    }
    const run = b.run;
    if (!run) return this.d.feeds?.derivedState.settled() ?? Promise.resolve();
    return this.track(enforcer, b, this.storeAndMark(enforcer, run, b.seq));
  }

  /**
   * A batch claimed before, sent again: not counted again. Its derived state
   * is fed again only when the controller that took it lost it: not marked
   * stored, not waiting for a flush here, and still not marked after
   * RESENT_GRACE_MS (a controller that lost the enforcer's stream but lives
   * flushes and marks it within that; one that died never does).
   */
  private async takeResent(enforcer: string, run: string, b: FlowBatch): Promise<{ stored: Promise<void> }> {
    this.duplicates++;
    this.d.flows.duplicate(enforcer);
    const here = this.unstored.get(unstoredKey(enforcer, b));
    if (here) return { stored: here };
    if (await this.sequences.stored(enforcer, run, b.seq)) return { stored: Promise.resolve() };
    const refed = sleep(this.resentGraceMs, undefined, { ref: false }).then(async () => {
      if (await this.sequences.stored(enforcer, run, b.seq)) return;
      this.d.log.debug({ enforcer, run, seq: b.seq }, 'a batch its first controller took and did not store is fed to the monitoring state again');
      this.publish(enforcer, this.accepted(enforcer, b));
      await this.storeAndMark(enforcer, run, b.seq);
    });
    return { stored: this.track(enforcer, b, refed) };
  }

  /**
   * Resolves once every writer of derived state (control/derived-state.ts) has
   * stored what was fed so far, and the batch is marked so (a resend after
   * that is not fed again). A mark that fails is only logged: the
   * acknowledgement follows, and only a batch sent again despite it would
   * be fed twice.
   */
  private storeAndMark(enforcer: string, run: string, seq: number): Promise<void> {
    const settled = this.d.feeds?.derivedState.settled() ?? Promise.resolve();
    return settled.then(() =>
      this.sequences.markStored(enforcer, run, seq).catch((err) => this.d.log.warn({ enforcer, seq, err: String(err) }, "a flow batch's stored state could not be marked")),
    );
  }

  /** Until `stored` settles, a resend of the batch to this controller waits for it instead of feeding it again. */
  private track(enforcer: string, b: FlowBatch, stored: Promise<void>): Promise<void> {
    const key = unstoredKey(enforcer, b);
    const p = stored.finally(() => this.unstored.delete(key));
    this.unstored.set(key, p);
    return p;
  }

  async handle(call: grpc.ServerReadableStream<FlowBatch, FlowAck>, cb: grpc.sendUnaryData<FlowAck>): Promise<void> {
    let done = false;
    const finish = (err: Partial<grpc.StatusObject> | null, ack?: FlowAck) => {
      if (done) return;
      done = true;
      if (err) cb(err);
      else cb(null, ack);
      if (err) call.destroy();
    };
    call.pause(); // nothing is read before the caller is known
    const peer = await this.open(call, finish);
    if (!peer) return;
    let batches = 0;
    let lastSeq = 0;
    call.on('data', (b: FlowBatch) => {
      if (done) return;
      const p = checkFlowBatch(b);
      if (p) return finish({ code: S.INVALID_ARGUMENT, details: p });
      if (b.enforcer !== peer.name) return finish({ code: S.PERMISSION_DENIED, details: `enforcer "${b.enforcer}" does not match the certificate's "${peer.name}"` });
      try {
        this.take(peer.name, b);
      } catch (err) {
        return finish(this.d.auth.toStatus(err));
      }
      batches++;
      lastSeq = b.seq;
    });
    call.on('end', () => {
      peer.unregister();
      finish(null, { batches, lastSeq });
    });
    call.on('error', () => {
      peer.unregister();
      done = true;
    });
    call.on('cancelled', () => {
      peer.unregister();
      done = true;
    });
    call.resume();
  }

  /** Authenticates the caller and registers its session (a revocation cuts it); null: refused (finish was called). */
  private async open(
    call: grpc.ServerReadableStream<FlowBatch, FlowAck> | grpc.ServerDuplexStream<FlowBatch, FlowAck>,
    finish: (err: Partial<grpc.StatusObject>) => void,
  ): Promise<(Peer & { unregister: () => void }) | null> {
    let id: Identified;
    try {
      id = await this.d.auth.identify(call);
    } catch (err) {
      finish(this.d.auth.toStatus(err));
      return null;
    }
    const peer = id.peer;
    const unregister = this.d.sessions.add(
      { enforcer: peer.name, serial: peer.serial, kind: 'flows', cut: (code, details) => finish({ code, details }) },
      peer.notAfter,
    );
    if (!(await this.d.auth.admitRegistered(id, (code, details) => finish({ code, details })))) {
      unregister();
      return null;
    }
    const guard = this.d.guard;
    if (guard && this.d.scopes) {
      try {
        guard.setDeclared(peer.name, await this.d.scopes.get(peer.name));
      } catch (err) {
        unregister();
        finish(this.d.auth.toStatus(err));
        return null;
      }
    }
    return { ...peer, unregister };
  }

  /** Counts a checked batch and feeds it on. */
  private take(enforcer: string, b: FlowBatch): void {
    const accepted = this.accepted(enforcer, b);
    this.d.flows.ingest(enforcer, accepted);
    this.publish(enforcer, accepted);
  }

  /** Only what this enforcer serves, within its clock skew, goes on (flows/report-guard.ts). */
  private accepted(enforcer: string, b: FlowBatch): FlowBatch {
    return this.d.guard ? this.d.guard.filter(enforcer, b) : b;
  }

  /** Hands an accepted batch to FLOW_FEED and its events to DROP_EVENTS; a failing subscriber never reaches the enforcer. */
  private publish(enforcer: string, b: FlowBatch): void {
    const feeds = this.d.feeds;
    if (!feeds) return;
    const events = b.events ?? [];
    try {
      feeds.flows.next({ enforcer, flows: b.flows, events, at: new Date() });
      for (const e of events) feeds.events.next(this.decodeEvent(enforcer, e));
    } catch (err) {
      this.d.log.warn({ enforcer, err: String((err as Error)?.stack ?? err) }, 'a flow feed subscriber failed');
    }
  }

  private decodeEvent(enforcer: string, e: WireSecurityEvent): ReportedDropEvent {
    const g = this.d.generations;
    return {
      enforcer,
      at: new Date(e.at || Date.now()),
      verdict: WIRE_TO_VERDICT[e.verdict] === 'audit' ? 'audit' : 'deny',
      reason: wireToReason(e.reason),
      src: e.src,
      dst: e.dst,
      sport: e.sport,
      dport: e.dport,
      protocol: e.protocol,
      family: e.family,
      srcIdentity: e.srcIdentity,
      dstIdentity: e.dstIdentity,
      srcSegment: g.segmentOf(e.srcIdentity),
      dstSegment: g.segmentOf(e.dstIdentity),
      ruleId: e.ruleId,
      policy: g.policyOf(e.ruleId),
      ifindex: e.ifindex,
      srcMac: e.srcMac,
      interface: e.interface ?? '',
    };
  }
}

function unstoredKey(enforcer: string, b: FlowBatch): string {
  return `${enforcer}\0${b.run}\0${b.seq}`;
}
