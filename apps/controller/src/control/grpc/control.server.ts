// SPDX-License-Identifier: Apache-2.0
/**
 * The Control gRPC service (proto/cordon/v1/control.proto) on grpc-js.
 *
 * grpc-js directly rather than @nestjs/microservices' gRPC transport: Nest's
 * transport builds its credentials from `credentials` options only, has no hook
 * to read the peer certificate per call, and cannot end one enforcer's open
 * streams from the outside (revocation). This class is wrapped in a Nest
 * provider (control.service.ts) so the app still owns its lifecycle.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Subscription } from 'rxjs';
import {
  BundleUpdate,
  CONTROL_GRPC,
  EnforcerStatus,
  EnrollRequest,
  EnrollResponse,
  FlowAck,
  FlowBatch,
  RenewRequest,
  StatusAck,
  WatchRequest,
  WIRE_TO_VERDICT,
  WireSecurityEvent,
  controlService,
  wireToReason,
} from '../../../../../proto/cordon/v1/control';
import { BundleState, bundleDigest, deltaSize, diffBundles, fromSourceBundle, toSnapshot } from '../../../../../proto/cordon/v1/bundle';
import { CaError, CertificateAuthority } from '../ca/certificate-authority';
import type { BundleSource, ControlStore } from '../control.ports';
import type { FlowAggregator } from '../flows/flow-aggregator';
import type { ReportGuard } from '../flows/report-guard';
import type { ControlFeeds, DropEvent } from '../feeds';
import { Sessions } from '../sessions';
import { OptionalClientCertCredentials } from './optional-client-cert.credentials';
import { checkEnroll, checkFlowBatch, checkRenew, checkStatus, checkWatch } from './validate';
import { hashToken } from './token-hash';
import { parseJoin } from '../../../../../proto/cordon/v1/join';
import { enrollmentRefusal, reservedNameProblem } from '../../tokens/enrollment-binding';

const S = grpc.status;
const BUILTIN_IDENTITY_NAMES: Record<number, string> = { 1: 'world', 2: 'host', 3: 'quarantine' };
export const DEFAULT_CERT_TTL_MS = 24 * 3600_000;

export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}
const invalid = (d: string) => new RpcError(S.INVALID_ARGUMENT, d);

export interface Peer {
  name: string;
  serial: string;
  notAfter: Date;
}

export interface ControlServerDeps {
  ca: CertificateAuthority;
  store: ControlStore;
  bundles: BundleSource;
  flows: FlowAggregator;
  log: Logger;
  certTtlMs?: number;
  serverNames?: string[];
  /** Called when the set of connected enforcers changes. */
  onConnectedChange?: (names: string[]) => void;
  /** FLOW_FEED and DROP_EVENTS (feeds.ts): every accepted batch and each of its events. */
  feeds?: ControlFeeds;
  /** Appends an audit entry (enroll, renew): AuditService.record. */
  audit?: (actor: { name: string; source: string | null }, action: string, target: string, diff: unknown) => Promise<unknown>;
  /** What each enforcer may report (flows/report-guard.ts); without it every record is taken. */
  guard?: ReportGuard;
  /** Operator-declared scopes, read when a flow stream opens (so a change on any controller applies). */
  scopes?: { get(name: string): Promise<string[] | null> };
}

/** Last statuses reported, by enforcer (for GET /v1/enforcers and tests). */
export interface EnforcerLive {
  status: EnforcerStatus;
  at: Date;
}

export class ControlServer {
  readonly sessions = new Sessions();
  readonly live = new Map<string, EnforcerLive>();
  private server: grpc.Server | null = null;
  private states = new Map<number, BundleState>();
  /** The bound port (when listening on port 0). */
  port = 0;

  constructor(private readonly d: ControlServerDeps) {
    this.sessions.onChange = () => d.onConnectedChange?.(this.sessions.connected());
  }

  async listen(address: string): Promise<number> {
    const { certPem, keyPem } = await this.d.ca.issueServerCertificate(this.d.serverNames);
    // The chain carries the CA: an enrolling enforcer compares it with the pin of its join string before it sends the token.
    const chain = certPem.trimEnd() + '\n' + this.d.ca.certificatePem;
    const creds = new OptionalClientCertCredentials(Buffer.from(this.d.ca.certificatePem), Buffer.from(chain), Buffer.from(keyPem));
    const server = new grpc.Server(CONTROL_GRPC.server);
    server.addService(controlService(), {
      Enroll: this.unary((call) => this.enroll(call.request as EnrollRequest, call.getPeer?.())),
      Renew: this.unary((call) => this.renew(call)),
      WatchBundles: (call: grpc.ServerWritableStream<WatchRequest, BundleUpdate>) => void this.watch(call),
      ReportFlows: (call: grpc.ServerReadableStream<FlowBatch, FlowAck>, cb: grpc.sendUnaryData<FlowAck>) => void this.reportFlows(call, cb),
      ReportStatus: this.unary((call) => this.reportStatus(call)),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, creds, (err, port) => (err ? reject(new Error(`gRPC listen on ${address}: ${err.message}`)) : resolve(port))),
    );
    this.server = server;
    this.d.log.info({ address, port: this.port }, 'control channel listening (gRPC, mTLS)');
    return this.port;
  }

  async close(): Promise<void> {
    this.sessions.cutAll(S.UNAVAILABLE, 'controller shutting down');
    const s = this.server;
    this.server = null;
    if (!s) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.forceShutdown();
        resolve();
      }, 2000);
      s.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Revokes every certificate of an enforcer and ends its open calls at once. */
  async revoke(name: string): Promise<{ serials: string[]; callsCut: number; known: boolean }> {
    const serials = await this.d.ca.revokeName(name);
    const known = (await this.d.store.revokeEnforcer(name)) || serials.length > 0;
    const callsCut = this.cutRevoked(name);
    // Every other controller sharing the database cuts its streams of this enforcer too.
    await this.d.store.notifyRevocation?.(name).catch((err: Error) => this.d.log.error({ enforcer: name, err: err.message }, 'could not tell the other controllers of a revocation'));
    this.d.log.warn({ enforcer: name, serials, callsCut }, 'enforcer revoked');
    return { serials, callsCut, known };
  }

  /** Ends every open call of a revoked enforcer (here, or announced by another controller). */
  cutRevoked(name: string): number {
    return this.sessions.cutEnforcer(name, S.PERMISSION_DENIED, `enforcer ${name} was revoked: enroll it again with a new token`);
  }

  // ---- authentication ----------------------------------------------------

  /** The calling enforcer, from its client certificate; throws UNAUTHENTICATED / PERMISSION_DENIED. */
  async authenticate(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } }): Promise<Peer> {
    // Present only when Node verified the chain against our CA and its dates (see the credentials' comment).
    const cert = call.getAuthContext().sslPeerCertificate;
    if (!cert?.raw) {
      throw new RpcError(S.UNAUTHENTICATED, 'a valid client certificate from this controller\'s CA is required (missing, expired or foreign): enroll with a token');
    }
    const r = await this.d.ca.check(cert.raw);
    let peer: Peer;
    if (r.ok) peer = { name: r.name, serial: r.serial, notAfter: r.notAfter };
    else if (r.why === 'unknown' && r.claimed) {
      // Issued by another controller of this site (same CA): the shared store says whether it is the
      // enforcer's current certificate.
      const rec = await this.d.store.getEnforcer(r.claimed.name);
      if (!rec || rec.revoked || rec.certSerial?.toLowerCase() !== r.claimed.serial) {
        throw new RpcError(rec?.revoked ? S.PERMISSION_DENIED : S.UNAUTHENTICATED, 'client certificate refused: unknown');
      }
      peer = r.claimed;
    } else {
      throw new RpcError(r.why === 'revoked' ? S.PERMISSION_DENIED : S.UNAUTHENTICATED, `client certificate refused: ${r.why}`);
    }
    await this.assertNotRevoked(peer);
    return peer;
  }

  /** Throws PERMISSION_DENIED when the enforcer (or this certificate) is revoked, by any controller of the site. */
  private async assertNotRevoked(peer: Peer): Promise<void> {
    const rec = await this.d.store.getEnforcer(peer.name);
    if (rec?.revoked || this.d.ca.isRevoked(peer.serial)) throw new RpcError(S.PERMISSION_DENIED, `enforcer ${peer.name} is revoked: enroll it again with a new token`);
  }

  /**
   * A stream registers only after authenticate() has read the store; a revocation in
   * between finds nothing to cut. So every stream checks once more after it is
   * registered: a revocation either sees the registered stream or is seen here.
   */
  private async recheckRegistered(peer: Peer, cut: (code: grpc.status, details: string) => void): Promise<boolean> {
    try {
      await this.assertNotRevoked(peer);
      return true;
    } catch (err) {
      const s = this.toStatus(err);
      cut(s.code ?? S.PERMISSION_DENIED, s.details ?? 'revoked');
      return false;
    }
  }

  private unary<Req, Res>(fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) {
    return (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call).then(
        (res) => cb(null, res),
        (err) => cb(this.toStatus(err)),
      );
    };
  }

  private toStatus(err: unknown): Partial<grpc.StatusObject> {
    if (err instanceof RpcError) return { code: err.code, details: err.details };
    if (err instanceof CaError) return { code: S.INVALID_ARGUMENT, details: err.message };
    this.d.log.error({ err: String((err as Error)?.stack ?? err) }, 'control call failed');
    return { code: S.INTERNAL, details: 'internal error (see the controller log)' };
  }

  // ---- Enroll / Renew -----------------------------------------------------

  /**
   * Spends the token on the name it may take (tokens/enrollment-binding.ts): a
   * refused name spends nothing; a token made with --replace revokes the live
   * enforcer's certificates (and cuts its streams) before the new one is signed.
   */
  private async enroll(req: EnrollRequest, peerAddress?: string): Promise<EnrollResponse> {
    const p = checkEnroll(req) ?? reservedNameProblem(req.name);
    if (p) throw invalid(p);
    await this.d.ca.parseCsr(req.csrPem); // before spending the token on a CSR we would refuse
    // A client may send the whole join string; its pin is for the client, only the token is checked here.
    const claim = await this.d.store.claimEnrollment(hashToken(parseJoin(req.token).token), req.name, enrollmentRefusal);
    if (!claim.ok && claim.reason === 'refused') throw new RpcError(S.PERMISSION_DENIED, claim.message);
    if (!claim.ok) throw new RpcError(S.PERMISSION_DENIED, 'enrollment token unknown, already used, revoked or expired: create one with `cordon token create`');
    let replaced: string[] = [];
    if (claim.existing && !claim.existing.revoked) replaced = (await this.revoke(req.name)).serials;
    const signed = await this.d.ca.signEnforcerCsr(req.csrPem, req.name, this.d.certTtlMs ?? DEFAULT_CERT_TTL_MS);
    await this.d.store.upsertEnforcer(req.name, signed.serial);
    this.d.log.info({ enforcer: req.name, serial: signed.serial, expiresAt: signed.notAfter, replaced }, 'enforcer enrolled');
    await this.d.audit?.({ name: `enforcer:${req.name}`, source: peerAddress ?? null }, 'enforcer.enroll', req.name, { serial: signed.serial, expiresAt: signed.notAfter.toISOString(), replaced });
    return { certificatePem: signed.certificatePem, caPem: this.d.ca.certificatePem, expiresAt: signed.notAfter.getTime(), serial: signed.serial };
  }

  private async renew(call: grpc.ServerUnaryCall<RenewRequest, EnrollResponse>): Promise<EnrollResponse> {
    const p = checkRenew(call.request);
    if (p) throw invalid(p);
    const peer = await this.authenticate(call);
    const signed = await this.d.ca.signEnforcerCsr(call.request.csrPem, peer.name, this.d.certTtlMs ?? DEFAULT_CERT_TTL_MS);
    await this.d.store.setEnforcerCertSerial(peer.name, signed.serial);
    this.d.log.info({ enforcer: peer.name, serial: signed.serial }, 'enforcer certificate renewed');
    await this.d.audit?.({ name: `enforcer:${peer.name}`, source: call.getPeer?.() ?? null }, 'enforcer.renew', peer.name, { serial: signed.serial, previous: peer.serial, expiresAt: signed.notAfter.toISOString() });
    return { certificatePem: signed.certificatePem, caPem: this.d.ca.certificatePem, expiresAt: signed.notAfter.getTime(), serial: signed.serial };
  }

  // ---- WatchBundles ---------------------------------------------------------

  private async state(generation: number): Promise<BundleState | null> {
    const hit = this.states.get(generation);
    if (hit) return hit;
    const b = await this.d.bundles.get(generation);
    if (!b) return null;
    const s = fromSourceBundle(b);
    this.states.set(generation, s);
    // A few recent generations suffice for deltas to enforcers a little behind.
    while (this.states.size > 8) this.states.delete(Math.min(...this.states.keys()));
    return s;
  }
  private async currentState(): Promise<BundleState | null> {
    const b = await this.d.bundles.current();
    if (!b) return null;
    return this.states.get(b.generation) ?? (await this.state(b.generation)) ?? fromSourceBundle(b);
  }

  /** The Policy document a rule id of the newest generation seen comes from; null for 0 (default deny) or unknown. */
  policyOf = (ruleId: number): string | null => {
    if (!ruleId) return null;
    const s = this.states.get(Math.max(0, ...this.states.keys()));
    return s?.rules.find((r) => r.id === ruleId)?.policy ?? null;
  };

  /** Segment name of each identity in the newest generation seen (called per flow record: a Map built once per generation). */
  segmentOf = (identity: number): string => {
    let newest: BundleState | undefined;
    for (const s of this.states.values()) if (!newest || s.generation > newest.generation) newest = s;
    if (newest !== this.namesOf) {
      this.namesOf = newest;
      this.names = new Map();
      for (const [n, id] of Object.entries(newest?.identities ?? {})) if (!this.names.has(id)) this.names.set(id, n);
    }
    return this.names.get(identity) ?? BUILTIN_IDENTITY_NAMES[identity] ?? 'unknown';
  };
  private namesOf: BundleState | undefined;
  private names = new Map<number, string>();

  private async watch(call: grpc.ServerWritableStream<WatchRequest, BundleUpdate>): Promise<void> {
    let closed = false;
    const end = (code: grpc.status, details: string) => {
      if (closed) return;
      closed = true;
      call.emit('error', { code, details });
    };
    let peer: Peer;
    try {
      const p = checkWatch(call.request);
      if (p) throw invalid(p);
      peer = await this.authenticate(call);
      if (call.request.enforcer !== peer.name) throw new RpcError(S.PERMISSION_DENIED, `enforcer "${call.request.enforcer}" does not match the certificate's "${peer.name}"`);
    } catch (err) {
      const s = this.toStatus(err);
      return end(s.code ?? S.INTERNAL, s.details ?? 'error');
    }

    let sub: Subscription | null = null;
    const unregister = this.sessions.add({ enforcer: peer.name, serial: peer.serial, kind: 'watch', cut: end }, peer.notAfter);
    if (!(await this.recheckRegistered(peer, end))) return unregister();
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

    // The enforcer's base, when it holds a generation we still know with the same hash.
    let sent: BundleState | null = null;
    const { lastGeneration, lastHash } = call.request;
    if (lastGeneration > 0) {
      const base = await this.state(lastGeneration).catch(() => null);
      if (base && (lastHash === '' || lastHash === base.hash)) sent = base;
    }

    let chain = Promise.resolve();
    const push = () => {
      chain = chain
        .then(async () => {
          if (closed) return;
          const cur = await this.currentState();
          if (!cur || closed) return;
          if (sent && sent.generation === cur.generation && sent.hash === cur.hash) return;
          const update = this.update(sent, cur);
          this.d.log.debug({ enforcer: peer.name, generation: cur.generation, body: update.body }, 'bundle sent');
          sent = cur;
          if (!call.write(update)) await new Promise((r) => call.once('drain', r));
        })
        .catch((err) => end(S.INTERNAL, `bundle stream failed: ${(err as Error).message}`));
    };
    // generation$ replays the current generation on subscribe, so the first push sends the snapshot (or delta).
    sub = this.d.bundles.generation$.subscribe({ next: push, complete: () => end(S.UNAVAILABLE, 'controller shutting down') });
    push();
  }

  private update(base: BundleState | null, cur: BundleState): BundleUpdate {
    const digest = bundleDigest(cur);
    const common = { generation: cur.generation, hash: cur.hash, digest, sentAt: Date.now() };
    if (base) {
      const delta = diffBundles(base, cur);
      // A delta larger than half the generation is no saving: send it whole.
      if (deltaSize(delta) <= (cur.ipcache.length + cur.policy.length) / 2 + 16) return { ...common, delta };
    }
    return { ...common, snapshot: toSnapshot(cur) };
  }

  // ---- ReportFlows / ReportStatus -------------------------------------------

  private async reportFlows(call: grpc.ServerReadableStream<FlowBatch, FlowAck>, cb: grpc.sendUnaryData<FlowAck>): Promise<void> {
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
      peer = await this.authenticate(call);
    } catch (err) {
      return finish(this.toStatus(err));
    }
    const unregister = this.sessions.add(
      { enforcer: peer.name, serial: peer.serial, kind: 'flows', cut: (code, details) => finish({ code, details }) },
      peer.notAfter,
    );
    if (!(await this.recheckRegistered(peer, (code, details) => finish({ code, details })))) return unregister();
    const guard = this.d.guard;
    if (guard && this.d.scopes) {
      try {
        guard.setDeclared(peer.name, await this.d.scopes.get(peer.name));
      } catch (err) {
        unregister();
        return finish(this.toStatus(err));
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
        return finish(this.toStatus(err));
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

  private decodeEvent(enforcer: string, e: WireSecurityEvent): DropEvent {
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
      srcSegment: this.segmentOf(e.srcIdentity),
      dstSegment: this.segmentOf(e.dstIdentity),
      ruleId: e.ruleId,
      policy: this.policyOf(e.ruleId),
      ifindex: e.ifindex,
      srcMac: e.srcMac,
      interface: e.interface ?? '',
    };
  }

  private async reportStatus(call: grpc.ServerUnaryCall<EnforcerStatus, StatusAck>): Promise<StatusAck> {
    const p = checkStatus(call.request);
    if (p) throw invalid(p);
    const peer = await this.authenticate(call);
    const s = call.request;
    if (s.enforcer !== peer.name) throw new RpcError(S.PERMISSION_DENIED, `enforcer "${s.enforcer}" does not match the certificate's "${peer.name}"`);
    const now = new Date();
    this.live.set(peer.name, { status: s, at: now });
    await this.d.store.recordEnforcerSeen(peer.name, {
      generation: s.generation,
      status: { ...s, certificateSerial: peer.serial } as unknown as Record<string, unknown>,
    });
    return { receivedAt: now.getTime() };
  }
}
