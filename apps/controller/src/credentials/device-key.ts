// SPDX-License-Identifier: Apache-2.0
/**
 * The key a device certificate certifies: the public key of the device's CSR
 * (its private key never leaves the device), with the MUD URL the CSR names
 * (id-pe-mud-url), or a P-256 pair made here whose private key is returned once.
 */
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ID_PE_MUD_URL, mudUrlOfExtension } from '../../../../model/mud/announcement';
import { parseCsr } from './csr';

export interface DeviceKey {
  publicKey: x509.PublicKey | webcrypto.CryptoKey;
  /** PEM (PKCS#8), only when the key was made here. */
  privateKey?: string;
  mudUrl: string | null;
}

export async function deviceKey(csr?: string): Promise<DeviceKey> {
  if (csr) {
    const req = await parseCsr(csr);
    const ext = req.extensions.find((e) => e.type === ID_PE_MUD_URL);
    return { publicKey: req.publicKey, mudUrl: ext ? mudUrlOfExtension(new Uint8Array(ext.value)) : null };
  }
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const privateKey = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY') + '\n';
  return { publicKey: pair.publicKey, privateKey, mudUrl: null };
}
