// SPDX-License-Identifier: Apache-2.0
/**
 * TLS server credentials that ask every client for a certificate but let the
 * handshake finish without one, so that one listener serves both Enroll (no
 * certificate yet) and every mTLS call.
 *
 * Why not ServerCredentials.createSsl(ca, pairs, checkClientCertificate)?
 *  - `true` sets requestCert with Node's default rejectUnauthorized, so a client
 *    without a certificate fails the handshake: Enroll becomes impossible;
 *  - `false` sets requestCert: false, so the server never asks (TLS 1.3 sends no
 *    CertificateRequest) and no call ever has a client certificate to check.
 * What we need is requestCert: true, rejectUnauthorized: false: Node then verifies
 * the chain against our CA (and the validity period) and records the result in
 * socket.authorized, and grpc-js's call.getAuthContext() returns
 * sslPeerCertificate only when socket.authorized is true
 * (grpc-js >= 1.10 server-interceptors.js getAuthContext; grpc/grpc-node#2730).
 * Every non-Enroll handler then checks that certificate itself (control.auth.ts):
 * present, issued by this CA to an enforcer, not revoked.
 */
import { ServerCredentials } from '@grpc/grpc-js';

export class OptionalClientCertCredentials extends ServerCredentials {
  constructor(
    private readonly caPem: Buffer,
    private readonly certPem: Buffer,
    private readonly keyPem: Buffer,
  ) {
    super({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, { ca: caPem, cert: certPem, key: keyPem });
  }

  _equals(other: ServerCredentials): boolean {
    return (
      other instanceof OptionalClientCertCredentials &&
      other.caPem.equals(this.caPem) &&
      other.certPem.equals(this.certPem) &&
      other.keyPem.equals(this.keyPem)
    );
  }
}
