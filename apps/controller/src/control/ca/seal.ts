// SPDX-License-Identifier: Apache-2.0
/**
 * Migrates a plain enforcer CA key (DATA_DIR/ca/ca.key, PKCS#8 PEM) into a file
 * sealed with the KEK (ca.key.sealed, keys/kek.ts), then removes the plain one.
 * What `cordon controller ca seal --data-dir D --kek-file F` runs, with the
 * controller stopped. Enforcers keep their certificates: the key is the same.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import { readKek, seal } from '../../keys/kek';
import { FileCaKey } from '../../keys/file-key';
import { CaError, ENFORCER_CA_KEY } from './certificate-authority';

export async function sealEnforcerCaKey(dataDir: string, kekFile: string): Promise<{ sealedFile: string; kekFingerprint: string }> {
  const dir = path.join(dataDir, 'ca');
  const plain = path.join(dir, 'ca.key');
  const sealedFile = path.join(dir, 'ca.key.sealed');
  if (!fs.existsSync(plain)) {
    if (fs.existsSync(sealedFile)) throw new CaError(`${sealedFile} is already sealed; nothing to do`);
    throw new CaError(`no enforcer CA key at ${plain}: is --data-dir the controller's?`);
  }
  if (fs.existsSync(sealedFile)) throw new CaError(`both ${plain} and ${sealedFile} exist: keep the one the controller's ca.crt was made with and move the other away`);
  const kek = readKek(kekFile);
  const pem = fs.readFileSync(plain, 'utf8');
  const pkcs8 = Buffer.from(x509.PemConverter.decodeFirst(pem));
  try {
    const tmp = `${sealedFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(seal(kek, ENFORCER_CA_KEY.purpose, pkcs8), null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, sealedFile);
  } finally {
    pkcs8.fill(0);
  }
  // Proof before the plain key goes: the sealed file opens with this KEK (same checks as at start).
  await FileCaKey.open({ keyFile: sealedFile, kekFile, purpose: ENFORCER_CA_KEY.purpose, what: ENFORCER_CA_KEY.what });
  const size = fs.statSync(plain).size;
  fs.writeFileSync(plain, Buffer.alloc(size)); // overwrite, then remove
  fs.rmSync(plain);
  return { sealedFile, kekFingerprint: kek.fingerprint };
}
