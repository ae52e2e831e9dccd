// SPDX-License-Identifier: Apache-2.0
/**
 * The audit chain checked outside the controller (`cordon audit export |
 * cordon audit verify --offline`), and against signed checkpoints kept outside
 * the database (the SIEM stream), so that a database rewritten from its first
 * entry with a consistent new chain is still detected.
 *
 * Export format: JSON lines, oldest first, one entry each:
 *   {"id":1,"at":ISO,"actor":..,"source":..,"action":..,"target":..,"diff":..,"prevHash":HEX,"hash":HEX}
 * hash = sha256(prevHash + canonicalJson({id, at, actor, source, action, target, diff}))
 * (canonical JSON: keys sorted, no spaces); prevHash of entry 1 is 64 zeros.
 *
 * Checkpoint: {"lastId":N,"hash":HEX,"at":ISO,"signature":BASE64} where signature is
 * ECDSA P-256 / SHA-256 (IEEE P1363 r||s) by the controller's enforcer CA key over
 * the bytes `cordon-audit-checkpoint/v1\n<lastId>\n<hash>\n<at>`; verify it with
 * the CA certificate (GET /v1/control/ca.pem, the one enforcers pin).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AUDIT_GENESIS, auditEntryHash, type AuditEntry } from '../store/store';

export interface AuditCheckpoint {
  lastId: number;
  hash: string;
  at: string;
  signature: string;
}

export function checkpointMessage(c: Pick<AuditCheckpoint, 'lastId' | 'hash' | 'at'>): Buffer {
  return Buffer.from(`cordon-audit-checkpoint/v1\n${c.lastId}\n${c.hash}\n${c.at}`);
}

export interface OfflineResult {
  ok: boolean;
  entries: number;
  checkpoints: number;
  firstBadId?: number;
  reason?: string;
}

/** Walks exported entries: ids 1..n in order, each following the previous and matching its hash. */
export function verifyChain(entries: readonly AuditEntry[]): OfflineResult {
  let prev = AUDIT_GENESIS;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.id !== i + 1) return { ok: false, entries: i, checkpoints: 0, firstBadId: i + 1, reason: `entry ${i + 1} is missing or out of order (found ${e.id})` };
    if (e.prevHash !== prev) return { ok: false, entries: i, checkpoints: 0, firstBadId: e.id, reason: `entry ${e.id} does not follow entry ${e.id - 1}` };
    if (auditEntryHash(prev, e) !== e.hash) return { ok: false, entries: i, checkpoints: 0, firstBadId: e.id, reason: `entry ${e.id} was altered: its content does not match its hash` };
    prev = e.hash;
  }
  return { ok: true, entries: entries.length, checkpoints: 0 };
}

/**
 * The chain, then every checkpoint: its signature must verify with the CA
 * certificate, and the entry it names must be in the export with that hash.
 * A checkpoint past the export's end means entries were removed.
 */
export async function verifyOffline(entries: readonly AuditEntry[], checkpoints: readonly AuditCheckpoint[], caPem?: string): Promise<OfflineResult> {
  const chain = verifyChain(entries);
  if (!chain.ok || checkpoints.length === 0) return chain;
  if (!caPem) return { ...chain, ok: false, reason: 'checkpoints need the CA certificate that signed them (--ca FILE, from /v1/control/ca.pem)' };
  const ca = new x509.X509Certificate(caPem);
  const key = await ca.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify'], webcrypto as unknown as Parameters<typeof ca.publicKey.export>[2]);
  let n = 0;
  for (const c of [...checkpoints].sort((a, b) => a.lastId - b.lastId)) {
    const good = await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key as webcrypto.CryptoKey, Buffer.from(c.signature, 'base64'), checkpointMessage(c)).catch(() => false);
    if (!good) return { ...chain, ok: false, checkpoints: n, reason: `the checkpoint at entry ${c.lastId} (${c.at}) is not signed by this CA` };
    const e = entries[c.lastId - 1];
    if (!e) return { ...chain, ok: false, checkpoints: n, firstBadId: entries.length + 1, reason: `a signed checkpoint names entry ${c.lastId}, but the log ends at entry ${entries.length}: entries were removed` };
    if (e.hash !== c.hash) return { ...chain, ok: false, checkpoints: n, firstBadId: c.lastId, reason: `entry ${c.lastId} differs from the signed checkpoint of ${c.at}: the log was rewritten` };
    n++;
  }
  return { ...chain, checkpoints: n };
}
