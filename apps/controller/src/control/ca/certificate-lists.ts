// SPDX-License-Identifier: Apache-2.0
/**
 * What the enforcer CA remembers about the certificates it signed: every
 * serial issued (to whom, which kind, until when) and every serial revoked.
 * The controller keeps them in its store, shared by every controller of the
 * site (shared-certificate-lists.ts); a CA opened without a store (test
 * fixtures that only need signatures) keeps them in memory for its life.
 */

export interface IssuedCert {
  serial: string;
  name: string;
  kind: 'enforcer' | 'server';
  issuedAt: string;
  notAfter: string;
}
export interface RevokedCert {
  serial: string;
  name: string;
  revokedAt: string;
}

export interface CertificateLists {
  /** What this controller knows was issued (its own issuances, and what it looked up). */
  issuedKnown(serial: string): IssuedCert | undefined;
  /** Whether `serial` was issued, asking the store when this controller does not know it yet. */
  lookupIssued(serial: string): Promise<IssuedCert | undefined>;
  recordIssued(cert: IssuedCert): Promise<void>;
  /** Revokes every enforcer certificate issued to `name` not yet revoked; returns those revoked now (idempotent). */
  revokeName(name: string, at: Date): Promise<RevokedCert[]>;
  isRevoked(serial: string): boolean;
  revoked(): RevokedCert[];
  /** Calls cb when revocations made by another controller reach this one's list (not for its own: revokeName returns them). */
  onRevokedChange(cb: () => void): void;
  /** Stops following other controllers' changes. */
  close(): Promise<void>;
}

/** The lists of a CA without a store: in memory only, gone with the process. */
export class MemoryCertificateLists implements CertificateLists {
  private readonly issued = new Map<string, IssuedCert>();
  private readonly revokedBySerial = new Map<string, RevokedCert>();

  issuedKnown(serial: string) {
    return this.issued.get(serial);
  }
  async lookupIssued(serial: string) {
    return this.issued.get(serial);
  }
  async recordIssued(cert: IssuedCert) {
    this.issued.set(cert.serial, cert);
  }
  async revokeName(name: string, at: Date) {
    const out: RevokedCert[] = [];
    for (const c of this.issued.values()) {
      if (c.kind !== 'enforcer' || c.name !== name || this.revokedBySerial.has(c.serial)) continue;
      const r = { serial: c.serial, name, revokedAt: at.toISOString() };
      this.revokedBySerial.set(c.serial, r);
      out.push(r);
    }
    return out;
  }
  isRevoked(serial: string) {
    return this.revokedBySerial.has(serial);
  }
  revoked() {
    return [...this.revokedBySerial.values()];
  }
  onRevokedChange() {
    // no other controller shares these lists
  }
  async close() {}
}
