// SPDX-License-Identifier: Apache-2.0
/**
 * A CA signing key, wherever it lives. The device CA only ever asks a key to sign
 * (ECDSA P-256 with SHA-256) and for its public half; the private half stays in
 * the PKCS#11 token or in memory after decrypting its file, and is never exported.
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs it loaded first
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export const CA_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface CaKey {
  readonly kind: 'file' | 'pkcs11';
  /** Public half, as a WebCrypto key (for SPKI export and for verifying). */
  readonly publicKey: webcrypto.CryptoKey;
  /** ECDSA P-256 over SHA-256(data), as IEEE P1363 r||s (what WebCrypto returns). */
  sign(data: ArrayBuffer | Uint8Array): Promise<ArrayBuffer>;
  /** Where the key is, for logs and status: never any key material. */
  describe(): Record<string, string | boolean>;
  close(): Promise<void>;
}

export class KeyStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

/**
 * A WebCrypto whose `subtle.sign` signs with `key` when @peculiar/x509 hands it
 * the CA's public key as `signingKey`. This is how certificates and CRLs are
 * signed inside a PKCS#11 token without giving the library a private CryptoKey.
 */
export function signingCrypto(key: CaKey): webcrypto.Crypto {
  const subtle = webcrypto.subtle;
  const proxy = new Proxy(subtle, {
    get(target, prop) {
      if (prop === 'sign') {
        return (alg: unknown, k: webcrypto.CryptoKey, data: ArrayBuffer) =>
          k === key.publicKey ? key.sign(data) : target.sign(alg as webcrypto.EcdsaParams, k, data);
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    subtle: proxy,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
    randomUUID: webcrypto.randomUUID.bind(webcrypto),
  } as unknown as webcrypto.Crypto;
}

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
