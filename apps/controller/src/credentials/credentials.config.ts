// SPDX-License-Identifier: Apache-2.0
/**
 * Settings of device credentials. They come from the `cordon controller` flags
 * that apps/cli/src/commands/credential.ts adds (--est, --kek-file, --pkcs11-*,
 * --psk-file, --credential-lifetime, --credential-overlap), which it hands over as
 * the CORDON_* variables below, so an operator may also set them in a unit file.
 *
 * Without a key store (neither --pkcs11-module nor --kek-file) the device CA
 * stays off: the routes answer 503 saying what to configure, and no EST server
 * listens. We do not generate a CA key in clear, nor a KEK beside the data.
 */
import * as path from 'node:path';
import { parsePositiveDuration as parseDuration } from '../../../common/src/duration';
import { parseHostPort } from '../../../common/src/host-port';
import type { KeyStoreConfig } from '../keys/open-ca-key';

export const CREDENTIAL_ENV = {
  est: 'CORDON_EST',
  kekFile: 'CORDON_KEK_FILE',
  pkcs11Module: 'CORDON_PKCS11_MODULE',
  pkcs11Token: 'CORDON_PKCS11_TOKEN',
  pkcs11PinFile: 'CORDON_PKCS11_PIN_FILE',
  pkcs11Pin: 'CORDON_PKCS11_PIN',
  pskFile: 'CORDON_PSK_FILE',
  lifetime: 'CORDON_CREDENTIAL_LIFETIME',
  overlap: 'CORDON_CREDENTIAL_OVERLAP',
} as const;

export const CREDENTIAL_DEFAULTS = {
  est: '0.0.0.0:7473',
  lifetime: '30d',
  overlap: '1h',
} as const;

/** Label (on a Device, or on the Segments it is in) that sets the certificate lifetime. */
export const LIFETIME_LABEL = 'cordon.dev/credential-lifetime';

export interface CredentialsConfig {
  dir: string;
  keys: KeyStoreConfig;
  /** null: EST off (--est off). */
  est: { host: string; port: number } | null;
  pskFile: string;
  lifetimeMs: number;
  overlapMs: number;
}

export class CredentialsConfigError extends Error {}

export function credentialsConfig(dataDir: string, env: NodeJS.ProcessEnv = process.env): CredentialsConfig {
  const dir = path.join(dataDir, 'device-ca');
  const problems: string[] = [];
  const dur = (name: keyof typeof CREDENTIAL_ENV, flag: string, def: string) => {
    const text = env[CREDENTIAL_ENV[name]] || def;
    const ms = parseDuration(text);
    if (ms === null) problems.push(`${flag} must be a duration such as 30d, 12h or 90s, got "${text}"`);
    return ms ?? 0;
  };
  const lifetimeMs = dur('lifetime', '--credential-lifetime', CREDENTIAL_DEFAULTS.lifetime);
  const overlapMs = dur('overlap', '--credential-overlap', CREDENTIAL_DEFAULTS.overlap);
  const estText = (env[CREDENTIAL_ENV.est] || CREDENTIAL_DEFAULTS.est).trim();
  let est: CredentialsConfig['est'] = null;
  if (estText !== 'off') {
    est = parseHostPort(estText);
    if (!est) problems.push(`--est must be HOST:PORT or off, got "${estText}"`);
  }
  if (problems.length) throw new CredentialsConfigError(`invalid credential settings:\n  ${problems.join('\n  ')}`);
  return {
    dir,
    keys: {
      dir,
      kekFile: env[CREDENTIAL_ENV.kekFile] || undefined,
      pkcs11Module: env[CREDENTIAL_ENV.pkcs11Module] || undefined,
      pkcs11Token: env[CREDENTIAL_ENV.pkcs11Token] || undefined,
      pkcs11PinFile: env[CREDENTIAL_ENV.pkcs11PinFile] || undefined,
      pkcs11Pin: env[CREDENTIAL_ENV.pkcs11Pin] || undefined,
    },
    est,
    pskFile: path.resolve(env[CREDENTIAL_ENV.pskFile] || path.join(dataDir, 'psk_file')),
    lifetimeMs,
    overlapMs,
  };
}
