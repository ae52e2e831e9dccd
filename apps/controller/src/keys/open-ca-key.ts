// SPDX-License-Identifier: Apache-2.0
import * as path from 'node:path';
import { CaKey, KeyStoreError } from './ca-key';
import { FileCaKey } from './file-key';
import { Pkcs11CaKey, readPin } from './pkcs11-key';

export interface KeyStoreConfig {
  /** Directory for a file key (DATA_DIR/device-ca). */
  dir: string;
  kekFile?: string;
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11PinFile?: string;
  pkcs11Pin?: string;
  pkcs11KeyLabel?: string;
  /** The sealed file's purpose and the key's name in errors (file-key.ts); the device CA's by default. */
  purpose?: string;
  what?: string;
}

/** True when a CA key store is configured at all (a token, or a KEK for a file key). */
export function keyStoreConfigured(c: KeyStoreConfig): boolean {
  return Boolean(c.pkcs11Module || c.kekFile);
}

/** Opens (or creates, on first start) the CA key the configuration names. */
export async function openCaKey(c: KeyStoreConfig): Promise<CaKey> {
  if (c.pkcs11Module) {
    if (c.kekFile) throw new KeyStoreError('give either --pkcs11-module (key in a token) or --kek-file (key in an encrypted file), not both');
    if (!c.pkcs11Token) throw new KeyStoreError('--pkcs11-module needs --pkcs11-token LABEL (the token to keep the CA key in)');
    return Pkcs11CaKey.open({ module: c.pkcs11Module, token: c.pkcs11Token, pin: readPin(c.pkcs11PinFile, c.pkcs11Pin), keyLabel: c.pkcs11KeyLabel });
  }
  return FileCaKey.open({ keyFile: path.join(c.dir, 'ca.key.sealed'), kekFile: c.kekFile, purpose: c.purpose, what: c.what });
}
