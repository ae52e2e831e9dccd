// SPDX-License-Identifier: Apache-2.0
/** What the credentials feature hands out and reports, and what its EST server needs of it. */
import type { Actor } from '../auth/roles';
import type { CredentialKind, CredentialRow } from '../store/credentials.repository';

export type CredentialStatus = 'valid' | 'expired' | 'revoked' | 'none';
/** Who asks for a credential change (recorded in the audit log). */
export type Who = Pick<Actor, 'name' | 'source'>;

export interface IssuedCredential {
  device: string;
  kind: CredentialKind;
  /** Certificate serial (hex) or PSK identity. */
  id: string;
  notAfter: string | null;
  certificate?: string;
  caCertificate?: string;
  /** Only when the controller generated the key (no CSR): shown this once. */
  privateKey?: string;
  /** PSKs: the identity and hex key, shown this once. */
  identity?: string;
  psk?: string;
  pskFile?: string;
  /** Credentials this rotation replaces, and when they stop working. */
  retiring?: { ids: string[]; at: string };
}

/** What the EST server (est.server.ts) asks of the credentials service. */
export interface EstIssuer {
  consumeEnrollmentToken(device: string, token: string): Promise<boolean>;
  issueCertificate(device: string, opts: { csr?: string; actor: Who; rotate?: boolean; overlapMs?: number; via?: string; replaces?: string[] }): Promise<IssuedCredential>;
  liveCertificate(serial: string): Promise<CredentialRow | null>;
}
