// SPDX-License-Identifier: Apache-2.0
/**
 * The join string of an enforcer enrollment: the one-time token and the pin of
 * the controller's enforcer CA in one argument (kubeadm's
 * `--discovery-token-ca-cert-hash` idea), so that whoever hands out the token
 * also tells the enforcer which controller to trust.
 *
 *   JOIN  = TOKEN "." CAHEX
 *   TOKEN = the secret of `cordon token create` ("cdn_" + base64url: never a ".")
 *   CAHEX = 64 lower-case hex digits: SHA-256 of the CA certificate (DER), what
 *           `curl -s CONTROLLER/v1/control/ca.pem | openssl x509 -outform der | sha256sum`
 *           prints, and what `--ca-sha256` takes
 *
 * The controller, the CLI and the enforcer share this file; only the token part
 * ever goes over the wire.
 */
import { createHash, X509Certificate } from 'node:crypto';

/** "sha256:" + hex, as REST and `cordon token create --output json` show it (caCertHash). */
export const CA_HASH_PREFIX = 'sha256:';

/** Lower-case hex SHA-256 of a PEM certificate's DER. */
export function caCertSha256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

export function formatJoin(token: string, caHex: string): string {
  return `${token}.${caHex}`;
}

/** A pin as people write it (sha256:AB:CD…, plain hex, any case) → 64 lower-case hex digits, or null. */
export function normalizeCaHash(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/^sha256:/, '').replace(/:/g, '');
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** Splits a join string; a bare token (no pin) gives caHex null. */
export function parseJoin(text: string): { token: string; caHex: string | null } {
  const dot = text.lastIndexOf('.');
  if (dot > 0) {
    const caHex = normalizeCaHash(text.slice(dot + 1));
    if (caHex) return { token: text.slice(0, dot), caHex };
  }
  return { token: text, caHex: null };
}
