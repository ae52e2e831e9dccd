// SPDX-License-Identifier: Apache-2.0
/** A device's credential state from its rows: what PostureRule `credential: valid` reads. */
import type { CredentialRow } from '../store/credentials.repository';
import type { CredentialStatus } from './credential-types';

export function rowStatus(r: CredentialRow, now: number): CredentialStatus {
  if (r.revokedAt) return 'revoked';
  if (r.notAfter && Date.parse(r.notAfter) <= now) return 'expired';
  return 'valid';
}

export function statusOf(rows: CredentialRow[], now: number): CredentialStatus {
  if (!rows.length) return 'none';
  const states = rows.map((r) => rowStatus(r, now));
  if (states.includes('valid')) return 'valid';
  // None works: say what happened to the newest one (rows come oldest first).
  return states[states.length - 1];
}
