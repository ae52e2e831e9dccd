// SPDX-License-Identifier: Apache-2.0
/**
 * The CA key in a file, sealed with the KEK (AES-256-GCM around PKCS#8). The
 * file on disk never holds the key in clear; once decrypted the key lives only as
 * a non-extractable WebCrypto key. Without a KEK the controller refuses to create
 * a file key at all: an unencrypted CA key beside the database is exactly what
 * this design exists to avoid, so we stop and say how to make a KEK rather than
 * generating one ourselves next to the data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { webcrypto } from 'node:crypto';
import { CA_ALG, CaKey, KeyStoreError } from './ca-key';
import { readKek, seal, unseal, type Kek, type SealedEnvelope } from './kek';

const PURPOSE = 'device-ca-key';

export interface FileKeyOptions {
  /** The sealed key file (created on first start). */
  keyFile: string;
  /** --kek-file; required. */
  kekFile?: string;
  /** What the sealed envelope is for (authenticated with it): `device-ca-key` by default. */
  purpose?: string;
  /** The key's name in errors: `the device CA key` by default. */
  what?: string;
}

export class FileCaKey implements CaKey {
  readonly kind = 'file' as const;
  private constructor(
    private readonly privateKey: webcrypto.CryptoKey,
    readonly publicKey: webcrypto.CryptoKey,
    private readonly keyFile: string,
    private readonly kek: Kek,
    readonly created: boolean,
  ) {}

  static async open(opts: FileKeyOptions): Promise<FileCaKey> {
    if (!opts.kekFile) {
      throw new KeyStoreError(
        `${opts.what ?? 'the device CA key'} would be stored in a file, and Cordon does not keep a CA key in clear: give --kek-file FILE ` +
          '(32 random bytes kept apart from --data-dir: head -c 32 /dev/urandom > FILE && chmod 600 FILE) or a PKCS#11 token with --pkcs11-module and --pkcs11-token',
      );
    }
    const kek = readKek(opts.kekFile);
    const keyFile = path.resolve(opts.keyFile);
    if (path.dirname(kek.file) === path.dirname(keyFile)) {
      throw new KeyStoreError(`--kek-file ${kek.file} is in the same directory as the key it protects (${keyFile}); keep the KEK elsewhere`);
    }
    const subtle = webcrypto.subtle;
    if (fs.existsSync(keyFile)) {
      let env: SealedEnvelope;
      try {
        env = JSON.parse(fs.readFileSync(keyFile, 'utf8')) as SealedEnvelope;
      } catch (err) {
        throw new KeyStoreError(`${keyFile} is not a sealed key file: ${(err as Error).message}`);
      }
      if (env?.purpose !== (opts.purpose ?? PURPOSE)) throw new KeyStoreError(`${keyFile} is sealed for "${env?.purpose}", not for ${opts.purpose ?? PURPOSE}: is it another CA's key file?`);
      const pkcs8 = unseal(kek, env, keyFile);
      try {
        const privateKey = await subtle.importKey('pkcs8', pkcs8, CA_ALG, false, ['sign']);
        // The public half from the same PKCS#8 (a JWK export of a throwaway extractable copy).
        const tmp = await subtle.importKey('pkcs8', pkcs8, CA_ALG, true, ['sign']);
        const jwk = await subtle.exportKey('jwk', tmp);
        delete jwk.d;
        const publicKey = await subtle.importKey('jwk', { ...jwk, key_ops: ['verify'] }, CA_ALG, true, ['verify']);
        return new FileCaKey(privateKey, publicKey, keyFile, kek, false);
      } finally {
        pkcs8.fill(0);
      }
    }
    const pair = (await subtle.generateKey(CA_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', pair.privateKey));
    fs.mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    const tmp = `${keyFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(seal(kek, opts.purpose ?? PURPOSE, pkcs8), null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, keyFile);
    const privateKey = await subtle.importKey('pkcs8', pkcs8, CA_ALG, false, ['sign']);
    pkcs8.fill(0);
    return new FileCaKey(privateKey, pair.publicKey, keyFile, kek, true);
  }

  sign(data: ArrayBuffer | Uint8Array): Promise<ArrayBuffer> {
    return webcrypto.subtle.sign(CA_ALG, this.privateKey, data);
  }

  describe() {
    return { store: 'file', keyFile: this.keyFile, kekFile: this.kek.file, kekFingerprint: this.kek.fingerprint };
  }

  async close() {}
}
