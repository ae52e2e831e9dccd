// SPDX-License-Identifier: Apache-2.0
/**
 * Key-encryption key (KEK): 32 bytes in a file the operator keeps apart from the
 * data directory (another disk, a tmpfs filled at boot, a secrets mount). Secrets
 * at rest are sealed with AES-256-GCM under it; the envelope names the KEK by a
 * fingerprint (SHA-256 of a domain-separated hash, not the key) so that a wrong
 * KEK is told apart from a damaged file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { KeyStoreError } from './ca-key';

export interface Kek {
  file: string;
  key: Buffer;
  /** 16 hex chars identifying the KEK without revealing it. */
  fingerprint: string;
}

export interface SealedEnvelope {
  format: 'cordon-sealed/v1';
  alg: 'AES-256-GCM';
  kek: string;
  purpose: string;
  iv: string;
  tag: string;
  data: string;
}

export function kekFingerprint(key: Buffer): string {
  return createHash('sha256').update('cordon-kek-fingerprint\0').update(key).digest('hex').slice(0, 16);
}

/** Reads a KEK: 32 raw bytes, 64 hex digits, or base64 of 32 bytes (a trailing newline is fine). */
export function readKek(file: string): Kek {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    throw new KeyStoreError(`cannot read the key-encryption key ${file}: ${(err as Error).message}`);
  }
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    throw new KeyStoreError(`the key-encryption key ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${file}`);
  }
  let key: Buffer | null = null;
  const text = raw.toString('utf8').trim();
  if (raw.length === 32) key = raw;
  else if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) key = Buffer.from(text, 'base64');
  if (!key || key.length !== 32) {
    throw new KeyStoreError(
      `the key-encryption key ${file} must hold 32 bytes (raw, 64 hex digits or base64); make one with: head -c 32 /dev/urandom > ${file} && chmod 600 ${file}`,
    );
  }
  return { file: path.resolve(file), key, fingerprint: kekFingerprint(key) };
}

export function seal(kek: Kek, purpose: string, plaintext: Buffer): SealedEnvelope {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek.key, iv);
  c.setAAD(Buffer.from(`cordon-sealed/v1\0${purpose}`));
  const data = Buffer.concat([c.update(plaintext), c.final()]);
  return { format: 'cordon-sealed/v1', alg: 'AES-256-GCM', kek: kek.fingerprint, purpose, iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
}

export function unseal(kek: Kek, env: SealedEnvelope, where: string): Buffer {
  if (env?.format !== 'cordon-sealed/v1' || env.alg !== 'AES-256-GCM') {
    throw new KeyStoreError(`${where} is not a Cordon sealed file (format cordon-sealed/v1, AES-256-GCM)`);
  }
  if (env.kek !== kek.fingerprint) {
    throw new KeyStoreError(
      `${where} was sealed with another key-encryption key (fingerprint ${env.kek}); ${kek.file} has fingerprint ${kek.fingerprint} — pass the --kek-file it was created with`,
    );
  }
  try {
    const d = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(env.iv, 'base64'));
    d.setAAD(Buffer.from(`cordon-sealed/v1\0${env.purpose}`));
    d.setAuthTag(Buffer.from(env.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(env.data, 'base64')), d.final()]);
  } catch {
    throw new KeyStoreError(`${where} cannot be decrypted with ${kek.file}: the file was altered or damaged (authentication failed)`);
  }
}
