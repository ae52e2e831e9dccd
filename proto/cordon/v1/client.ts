// SPDX-License-Identifier: Apache-2.0
/**
 * A typed Control client for the enforcer and the tests, with the shared
 * CONTROL_GRPC options.
 *
 * Server identity: the controller's CA is private and the enforcer pins it, so
 * the host name an enforcer dials (an address, a NAT name) is not what proves
 * the server; a certificate from the pinned CA whose subject CN is
 * CONTROL_GRPC.serverName is. Enforcer certificates carry other CNs (names are
 * [a-z0-9-], never "cordon-controller"), so one cannot pose as the controller.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  BundleUpdate,
  CONTROL_GRPC,
  EnforcerStatus,
  EnrollRequest,
  EnrollResponse,
  FlowAck,
  FlowBatch,
  FqdnReport,
  MudAck,
  MudAnnouncement,
  RenewRequest,
  StatusAck,
  WatchRequest,
  controlClientConstructor,
} from './control';

export interface ControlTls {
  /** The pinned CA (PEM); null only for Enroll before the CA is known (trust on first use, see onServerCert). */
  caPem: string | null;
  certPem?: string;
  keyPem?: string;
  /** Sees the server certificate of every handshake (the enforcer checks it against the CA Enroll returns). */
  onServerCert?: (cert: PeerCertificate) => void;
}

type Cb<T> = (err: grpc.ServiceError | null, res?: T) => void;
export interface RawControlClient extends grpc.Client {
  Enroll(req: EnrollRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<EnrollResponse>): grpc.ClientUnaryCall;
  Renew(req: RenewRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<EnrollResponse>): grpc.ClientUnaryCall;
  WatchBundles(req: WatchRequest, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<BundleUpdate>;
  ReportFlows(md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<FlowAck>): grpc.ClientWritableStream<FlowBatch>;
  StreamFlows(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<FlowBatch, FlowAck>;
  ReportStatus(req: EnforcerStatus, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<StatusAck>): grpc.ClientUnaryCall;
  ReportMud(req: MudAnnouncement, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<MudAck>): grpc.ClientUnaryCall;
  ReportFqdn(req: FqdnReport, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<StatusAck>): grpc.ClientUnaryCall;
}

export function controlCredentials(tls: ControlTls): grpc.ChannelCredentials {
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    tls.onServerCert?.(cert);
    const cn = cert.subject?.CN;
    return cn === CONTROL_GRPC.serverName ? undefined : new Error(`server certificate CN is "${String(cn)}", not "${CONTROL_GRPC.serverName}"`);
  };
  return grpc.credentials.createSsl(
    tls.caPem ? Buffer.from(tls.caPem) : null,
    tls.keyPem ? Buffer.from(tls.keyPem) : null,
    tls.certPem ? Buffer.from(tls.certPem) : null,
    tls.caPem ? { checkServerIdentity } : { checkServerIdentity, rejectUnauthorized: false },
  );
}

export function controlClient(address: string, tls: ControlTls): RawControlClient {
  const Ctor = controlClientConstructor();
  return new Ctor(address, controlCredentials(tls), CONTROL_GRPC.client) as unknown as RawControlClient;
}

function unaryCall<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<Res>) => grpc.ClientUnaryCall,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as Res))),
  );
}

export const rpc = {
  enroll: (c: RawControlClient, req: EnrollRequest, timeoutMs = 15_000) => unaryCall(c.Enroll.bind(c), req, timeoutMs),
  renew: (c: RawControlClient, req: RenewRequest, timeoutMs = 15_000) => unaryCall(c.Renew.bind(c), req, timeoutMs),
  reportStatus: (c: RawControlClient, req: EnforcerStatus, timeoutMs = 10_000) => unaryCall(c.ReportStatus.bind(c), req, timeoutMs),
  reportMud: (c: RawControlClient, req: MudAnnouncement, timeoutMs = 10_000) => unaryCall(c.ReportMud.bind(c), req, timeoutMs),
  reportFqdn: (c: RawControlClient, req: FqdnReport, timeoutMs = 10_000) => unaryCall(c.ReportFqdn.bind(c), req, timeoutMs),
};
