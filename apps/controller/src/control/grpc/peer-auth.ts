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

/** A call whose TLS peer certificate can be read (grpc-js calls). */
export interface PeerCall {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } };
}

/** Who the certificate names; issuedElsewhere: by another controller of the site (admit() checks the store). */
export interface Identified {
  peer: Peer;
  issuedElsewhere: boolean;
}

export class PeerAuth {
  constructor(
    private readonly ca: CertificateAuthority,
    private readonly store: ControlStore,
    private readonly log: Logger,
  ) {}

  /** The calling enforcer, from its client certificate and its row in the store; throws UNAUTHENTICATED / PERMISSION_DENIED. */
  async authenticate(call: PeerCall): Promise<Peer> {
    const id = await this.identify(call);
    await this.admit(id);
    return id.peer;
  }

  /**
   * The calling enforcer as its certificate names it, by the CA alone (signature, kind, dates, the revoked
   * list): what a stream needs to register before admit() reads the store. Throws as authenticate().
   */
  async identify(call: PeerCall): Promise<Identified> {
    // Present only when Node verified the chain against our CA and its dates (see the credentials' comment).
    const cert = call.getAuthContext().sslPeerCertificate;
    if (!cert?.raw) {
      throw new RpcError(S.UNAUTHENTICATED, 'a valid client certificate from this controller\'s CA is required (missing, expired or foreign): enroll with a token');
    }
    const r = await this.ca.check(cert.raw);
    if (r.ok) return { peer: { name: r.name, serial: r.serial, notAfter: r.notAfter }, issuedElsewhere: false };
    // Issued by another controller of this site (same CA), not yet in the shared list this controller read:
    // admit() asks the store whether it is the enforcer's current certificate.
    if (r.why === 'unknown' && r.claimed) return { peer: r.claimed, issuedElsewhere: true };
    throw new RpcError(r.why === 'revoked' ? S.PERMISSION_DENIED : S.UNAUTHENTICATED, `client certificate refused: ${r.why}`);
  }

  /**
   * One read of the enforcer's row: refused when it (or this certificate) is revoked by any controller of the
   * site, or, for a certificate issued elsewhere, when it is not the enforcer's current one.
   */
  async admit(id: Identified): Promise<void> {
    const { peer } = id;
    const rec = await this.store.getEnforcer(peer.name);
    if (id.issuedElsewhere && (!rec || rec.revoked || rec.certSerial?.toLowerCase() !== peer.serial)) {
      throw new RpcError(rec?.revoked ? S.PERMISSION_DENIED : S.UNAUTHENTICATED, 'client certificate refused: unknown');
    }
    if (rec?.revoked || this.ca.isRevoked(peer.serial)) throw new RpcError(S.PERMISSION_DENIED, `enforcer ${peer.name} is revoked: enroll it again with a new token`);
  }

  /**
   * A stream registers (so that a revocation finds it to cut) before it is admitted: a revocation either
   * committed before admit() reads the store, and is seen there, or after, and cuts the registered stream
   * (here, or through the other controllers' notice). One read per stream; until it answers, the stream
   * gets nothing and is not counted as connected. False: refused, and cut.
   */
  async admitRegistered(id: Identified, cut: (code: grpc.status, details: string) => void): Promise<boolean> {
    try {
      await this.admit(id);
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
