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
 *
 * SSL_OP_NO_TICKET: no client of ours resumes a session (grpc-js offers none),
 * and OpenSSL 3 builds each of the two tickets it sends after a TLS 1.3
 * handshake by copying the session through DER, the peer certificate's key
 * decoded again: 8% of a controller's CPU when a dead controller's enforcers
 * moved to it (perf, scripts/bench/controllers.ts), 0.6-0.9 ms of its ~3 ms
 * handshake. With the option, TLS 1.3 tickets are stateful: a session id, no
 * copy (control.server.spec.ts checks their size).
 */
import { constants } from 'node:crypto';
import { ServerCredentials } from '@grpc/grpc-js';

export class OptionalClientCertCredentials extends ServerCredentials {
  constructor(
    private readonly caPem: Buffer,
    private readonly certPem: Buffer,
    private readonly keyPem: Buffer,
  ) {
    // secureOptions among the context's options: grpc-js re-applies those (and only those) on a rotation.
    super({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, { ca: caPem, cert: certPem, key: keyPem, secureOptions: constants.SSL_OP_NO_TICKET });
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
