// SPDX-License-Identifier: Apache-2.0
/**
 * Who is calling: the enforcer named by a client certificate of this site's
 * CA, not revoked by any controller of the site; and how errors become gRPC
 * statuses.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CaError, CertificateAuthority } from '../ca/certificate-authority';
import type { ControlStore } from '../control.ports';

const S = grpc.status;

export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}
export const invalid = (d: string) => new RpcError(S.INVALID_ARGUMENT, d);

export interface Peer {
  name: string;
  serial: string;
  notAfter: Date;
}

export class PeerAuth {
  constructor(
    private readonly ca: CertificateAuthority,
    private readonly store: ControlStore,
    private readonly log: Logger,
  ) {}

  /** The calling enforcer, from its client certificate; throws UNAUTHENTICATED / PERMISSION_DENIED. */
  async authenticate(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } }): Promise<Peer> {
    // Present only when Node verified the chain against our CA and its dates (see the credentials' comment).
    const cert = call.getAuthContext().sslPeerCertificate;
    if (!cert?.raw) {
      throw new RpcError(S.UNAUTHENTICATED, 'a valid client certificate from this controller\'s CA is required (missing, expired or foreign): enroll with a token');
    }
    const r = await this.ca.check(cert.raw);
    let peer: Peer;
    if (r.ok) peer = { name: r.name, serial: r.serial, notAfter: r.notAfter };
    else if (r.why === 'unknown' && r.claimed) {
      // Issued by another controller of this site (same CA): the shared store says whether it is the
      // enforcer's current certificate.
      const rec = await this.store.getEnforcer(r.claimed.name);
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
  async assertNotRevoked(peer: Peer): Promise<void> {
    const rec = await this.store.getEnforcer(peer.name);
    if (rec?.revoked || this.ca.isRevoked(peer.serial)) throw new RpcError(S.PERMISSION_DENIED, `enforcer ${peer.name} is revoked: enroll it again with a new token`);
  }

  /**
   * A stream registers only after authenticate() has read the store; a revocation in
   * between finds nothing to cut. So every stream checks once more after it is
   * registered: a revocation either sees the registered stream or is seen here.
   */
  async recheckRegistered(peer: Peer, cut: (code: grpc.status, details: string) => void): Promise<boolean> {
    try {
      await this.assertNotRevoked(peer);
      return true;
    } catch (err) {
      const s = this.toStatus(err);
      cut(s.code ?? S.PERMISSION_DENIED, s.details ?? 'revoked');
      return false;
    }
  }

  toStatus(err: unknown): Partial<grpc.StatusObject> {
    if (err instanceof RpcError) return { code: err.code, details: err.details };
    if (err instanceof CaError) return { code: S.INVALID_ARGUMENT, details: err.message };
    this.log.error({ err: String((err as Error)?.stack ?? err) }, 'control call failed');
    return { code: S.INTERNAL, details: 'internal error (see the controller log)' };
  }
}
