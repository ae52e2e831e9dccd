// SPDX-License-Identifier: Apache-2.0
/**
 * ReportFlows: an enforcer's stream of flow batches. Each batch is checked,
 * cut to what the enforcer serves (flows/report-guard.ts), counted by the
 * aggregator, and handed to FLOW_FEED and DROP_EVENTS (feeds.ts), events
 * named with the current generation's segment and policy names.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { FlowAck, FlowBatch, WIRE_TO_VERDICT, WireSecurityEvent, wireToReason } from '../../../../../proto/cordon/v1/control';
import type { GenerationSource } from '../control.ports';
import type { ControlFeeds, ReportedDropEvent } from '../feeds';
import type { FlowAggregator } from '../flows/flow-aggregator';
import type { ReportGuard } from '../flows/report-guard';
import { Sessions } from '../sessions';
import { Peer, PeerAuth } from './peer-auth';
import { checkFlowBatch } from './validate';

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
}

export class FlowReports {
  constructor(private readonly d: FlowReportDeps) {}

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
    let peer: Peer;
    try {
      peer = await this.d.auth.authenticate(call);
    } catch (err) {
      return finish(this.d.auth.toStatus(err));
    }
    const unregister = this.d.sessions.add(
      { enforcer: peer.name, serial: peer.serial, kind: 'flows', cut: (code, details) => finish({ code, details }) },
      peer.notAfter,
    );
    if (!(await this.d.auth.recheckRegistered(peer, (code, details) => finish({ code, details })))) return unregister();
    const guard = this.d.guard;
    if (guard && this.d.scopes) {
      try {
        guard.setDeclared(peer.name, await this.d.scopes.get(peer.name));
      } catch (err) {
        unregister();
        return finish(this.d.auth.toStatus(err));
      }
    }
    let batches = 0;
    let lastSeq = 0;
    call.on('data', (b: FlowBatch) => {
      if (done) return;
      const p = checkFlowBatch(b);
      if (p) return finish({ code: S.INVALID_ARGUMENT, details: p });
      if (b.enforcer !== peer.name) return finish({ code: S.PERMISSION_DENIED, details: `enforcer "${b.enforcer}" does not match the certificate's "${peer.name}"` });
      // Only what this enforcer serves, within its clock skew, goes on (flows/report-guard.ts).
      const accepted = guard ? guard.filter(peer.name, b) : b;
      try {
        this.d.flows.ingest(peer.name, accepted);
      } catch (err) {
        return finish(this.d.auth.toStatus(err));
      }
      batches++;
      lastSeq = b.seq;
      this.publish(peer.name, accepted);
    });
    call.on('end', () => {
      unregister();
      finish(null, { batches, lastSeq });
    });
    call.on('error', () => {
      unregister();
      done = true;
    });
    call.on('cancelled', () => {
      unregister();
      done = true;
    });
    call.resume();
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
