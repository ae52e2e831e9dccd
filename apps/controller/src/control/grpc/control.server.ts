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
import {
  BundleUpdate,
  CONTROL_GRPC,
  EnforcerStatus,
  EnrollRequest,
  EnrollResponse,
  FlowAck,
  FlowBatch,
  MudAck,
  MudAnnouncement,
  FqdnReport,
  RenewRequest,
  StatusAck,
  WatchRequest,
  controlService,
} from '../../../../../proto/cordon/v1/control';
import { CertificateAuthority } from '../ca/certificate-authority';
import type { ControlStore, GenerationSource } from '../control.ports';
import type { PlacementSource } from '../placement.port';
import type { FlowAggregator } from '../flows/flow-aggregator';
import type { ReportGuard } from '../flows/report-guard';
import type { FlowSequences } from '../flows/flow-sequences';
import type { ControlFeeds } from '../feeds';
import { Sessions } from '../sessions';
import { BundleWatch } from './bundle-watch';
import { FlowReports } from './flow-reports';
import { OptionalClientCertCredentials } from './optional-client-cert.credentials';
import { invalid, PeerAuth, RpcError } from './peer-auth';
import { checkEnroll, checkFqdnReport, checkMud, checkRenew, checkStatus } from './validate';
import { parseAddress } from '../../policy/net';
import { hashToken } from './token-hash';
import { parseJoin } from '../../../../../proto/cordon/v1/join';
import { enrollmentRefusal, reservedNameProblem } from '../../tokens/enrollment-binding';

const S = grpc.status;
export const DEFAULT_CERT_TTL_MS = 24 * 3600_000;
/** How long changes of the connected set are gathered before they are told (onConnectedChange). */
const CONNECTED_COALESCE_MS = 50;
/**
 * And at most this often: each telling is the gauge and a write of the whole list to the store
 * (stream-registry.ts: a delete and an upsert of every connected enforcer), which during a take-over ran back to
 * back, PostgreSQL busy on the same cores as the streams it was recording. A change after a quiet spell is told
 * within CONNECTED_COALESCE_MS; a burst, once a second with the newest set.
 */
const CONNECTED_MIN_INTERVAL_MS = 1000;

export interface ControlServerDeps {
  ca: CertificateAuthority;
  store: ControlStore;
  /** The published generations and the stored deltas between them (CurrentGeneration). */
  generations: GenerationSource;
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
  /** Each enforcer's view of the generation by its labels (placement/); without it every enforcer gets the site's bundle. */
  placement?: PlacementSource;
  /** Operator-declared scopes, read when a flow stream opens (so a change on any controller applies). */
  scopes?: { get(name: string): Promise<string[] | null> };
  /** Flow batches taken, shared by the site's controllers (flows/flow-sequences.ts); default: in memory. */
  sequences?: FlowSequences;
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
  private readonly auth: PeerAuth;
  private readonly watches: BundleWatch;
  readonly flowReports: FlowReports;
  /** The bound port (when listening on port 0). */
  port = 0;

  constructor(private readonly d: ControlServerDeps) {
    // Coalesced: a storm of streams opening (a dead controller's enforcers moving here) is a list every
    // CONNECTED_MIN_INTERVAL_MS, not one per stream (each is a gauge and a write of the list to the store).
    let pending = false;
    let toldAt = -Infinity;
    this.sessions.onChange = () => {
      if (pending) return;
      pending = true;
      setTimeout(() => {
        pending = false;
        toldAt = Date.now();
        d.onConnectedChange?.(this.sessions.connected());
      }, Math.max(CONNECTED_COALESCE_MS, toldAt + CONNECTED_MIN_INTERVAL_MS - Date.now())).unref();
    };
    this.auth = new PeerAuth(d.ca, d.store, d.log);
    this.watches = new BundleWatch({ generations: d.generations, sessions: this.sessions, auth: this.auth, log: d.log, placement: d.placement });
    this.flowReports = new FlowReports({ ...d, sessions: this.sessions, auth: this.auth });
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
      WatchBundles: (call: grpc.ServerWritableStream<WatchRequest, BundleUpdate>) => void this.watches.handle(call),
      ReportFlows: (call: grpc.ServerReadableStream<FlowBatch, FlowAck>, cb: grpc.sendUnaryData<FlowAck>) => void this.flowReports.handle(call, cb),
      StreamFlows: (call: grpc.ServerDuplexStream<FlowBatch, FlowAck>) => void this.flowReports.handleStream(call),
      ReportStatus: this.unary((call) => this.reportStatus(call)),
      ReportMud: this.unary((call) => this.reportMud(call)),
      ReportFqdn: this.unary((call) => this.reportFqdn(call)),
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

  private unary<Req, Res>(fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) {
    return (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call).then(
        (res) => cb(null, res),
        (err) => cb(this.toStatus(err)),
      );
    };
  }

  private toStatus(err: unknown): Partial<grpc.StatusObject> {
    return this.auth.toStatus(err);
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
    const peer = await this.auth.authenticate(call);
    const signed = await this.d.ca.signEnforcerCsr(call.request.csrPem, peer.name, this.d.certTtlMs ?? DEFAULT_CERT_TTL_MS);
    await this.d.store.setEnforcerCertSerial(peer.name, signed.serial);
    this.d.log.info({ enforcer: peer.name, serial: signed.serial }, 'enforcer certificate renewed');
    await this.d.audit?.({ name: `enforcer:${peer.name}`, source: call.getPeer?.() ?? null }, 'enforcer.renew', peer.name, { serial: signed.serial, previous: peer.serial, expiresAt: signed.notAfter.toISOString() });
    return { certificatePem: signed.certificatePem, caPem: this.d.ca.certificatePem, expiresAt: signed.notAfter.getTime(), serial: signed.serial };
  }

  // ---- ReportStatus (WatchBundles: bundle-watch.ts; ReportFlows: flow-reports.ts) ----

  private async reportStatus(call: grpc.ServerUnaryCall<EnforcerStatus, StatusAck>): Promise<StatusAck> {
    const p = checkStatus(call.request);
    if (p) throw invalid(p);
    const peer = await this.auth.authenticate(call);
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

  // ---- ReportMud: a device's MUD URL seen in DHCP, for the MUD manager (mud/mud-manager.service.ts) ----

  private async reportMud(call: grpc.ServerUnaryCall<MudAnnouncement, MudAck>): Promise<MudAck> {
    const p = checkMud(call.request);
    if (p) throw invalid(p);
    const peer = await this.auth.authenticate(call);
    const m = call.request;
    if (m.enforcer !== peer.name) throw new RpcError(S.PERMISSION_DENIED, `enforcer "${m.enforcer}" does not match the certificate's "${peer.name}"`);
    if (m.address && !parseAddress(m.address)) throw invalid(`address: ${m.address} is not an IP address`);
    if (!m.mac && !m.address) throw invalid('an announcement names the device by mac or address');
    const at = new Date();
    this.d.feeds?.mud.next({ enforcer: peer.name, url: m.url, mac: m.mac || null, address: m.address || null, source: m.source as 'dhcpv4' | 'dhcpv6', interface: m.interface, at });
    return { receivedAt: at.getTime() };
  }

  // ---- ReportFqdn: the names an enforcer learned from DNS answers, for `cordon get fqdn` ----

  private async reportFqdn(call: grpc.ServerUnaryCall<FqdnReport, StatusAck>): Promise<StatusAck> {
    const p = checkFqdnReport(call.request);
    if (p) throw invalid(p);
    const peer = await this.auth.authenticate(call);
    const r = call.request;
    if (r.enforcer !== peer.name) throw new RpcError(S.PERMISSION_DENIED, `enforcer "${r.enforcer}" does not match the certificate's "${peer.name}"`);
    await this.d.store.recordLearnedNames?.(peer.name, r.total, r.names.map((n) => ({ name: n.name, address: n.address, expiresAt: n.expiresAt, selectors: n.selectors ?? [] })));
    return { receivedAt: Date.now() };
  }
}
