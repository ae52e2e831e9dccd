// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer's identity in its state directory: a P-256 key made here and
 * never sent anywhere (key.pem, mode 0600), the certificate the controller's
 * CA signed for it (cert.pem), and that CA, pinned at enrollment (ca.pem).
 *
 * Enrollment happens only when there is no usable certificate: a restarted
 * enforcer needs no new token. Renewal writes the next key first (key.next.pem),
 * then the certificate, then renames the key, so a crash in between is repaired
 * on the next load by matching the certificate to one of the two keys.
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs it loaded first
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { controlClient, rpc } from '../../../proto/cordon/v1/client';
import type { EnrollResponse } from '../../../proto/cordon/v1/control';
import { normalizeCaHash, parseJoin } from '../../../proto/cordon/v1/join';
import { parseHostPort } from '../../common/src/host-port';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface Credentials {
  name: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export class IdentityError extends Error {}

function writeFileAtomic(file: string, data: string, mode: number): void {
  fs.writeFileSync(file + '.tmp', data, { mode });
  fs.chmodSync(file + '.tmp', mode);
  fs.renameSync(file + '.tmp', file);
}

export async function newKeyAndCsr(name: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${name}`, keys, signingAlgorithm: EC });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n', csrPem: csr.toString('pem') };
}

function sameKey(certPem: string, keyPem: string): boolean {
  try {
    const a = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
    const b = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return a.equals(b);
  } catch {
    return false;
  }
}

/** Lower-case hex SHA-256 of a certificate's DER (PEM or DER given). */
export function fingerprint(cert: string | Buffer): string {
  const der = typeof cert === 'string' ? Buffer.from(new x509.X509Certificate(cert).rawData) : cert;
  return createHash('sha256').update(der).digest('hex');
}

export class IdentityStore {
  constructor(readonly dir: string) {}
  private f(name: string) {
    return path.join(this.dir, name);
  }

  /** The stored credentials, or null when there are none (or they do not fit together). */
  load(): Credentials | null {
    const [key, next, cert, ca] = ['key.pem', 'key.next.pem', 'cert.pem', 'ca.pem'].map((n) => this.f(n));
    if (!fs.existsSync(cert) || !fs.existsSync(ca)) return null;
    const certPem = fs.readFileSync(cert, 'utf8');
    // A renewal interrupted after writing the certificate: its key is key.next.pem.
    if (fs.existsSync(next) && sameKey(certPem, fs.readFileSync(next, 'utf8'))) fs.renameSync(next, key);
    if (!fs.existsSync(key)) return null;
    const st = fs.statSync(key);
    if ((st.mode & 0o077) !== 0) throw new IdentityError(`${key} is readable by others (mode ${(st.mode & 0o777).toString(8)}): run chmod 600 ${key}`);
    const keyPem = fs.readFileSync(key, 'utf8');
    if (!sameKey(certPem, keyPem)) return null;
    const c = new x509.X509Certificate(certPem);
    return {
      name: c.subjectName.getField('CN')[0] ?? '',
      keyPem,
      certPem,
      caPem: fs.readFileSync(ca, 'utf8'),
      serial: c.serialNumber.toLowerCase(),
      notBefore: c.notBefore,
      notAfter: c.notAfter,
    };
  }

  save(keyPem: string, res: EnrollResponse): Credentials {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.f('key.next.pem'), keyPem, 0o600);
    writeFileAtomic(this.f('ca.pem'), res.caPem, 0o644);
    writeFileAtomic(this.f('cert.pem'), res.certificatePem, 0o644);
    fs.renameSync(this.f('key.next.pem'), this.f('key.pem'));
    const creds = this.load();
    if (!creds) throw new IdentityError('the certificate the controller returned does not match our key');
    return creds;
  }
}

/** Usable for mTLS now (with a minute to spare). */
export function usable(c: Credentials | null, now = Date.now()): c is Credentials {
  return !!c && c.notAfter.getTime() - 60_000 > now && c.notBefore.getTime() <= now + 60_000;
}

/** When to renew: at 2/3 of the certificate's lifetime. */
export function renewAt(c: Credentials): number {
  const life = c.notAfter.getTime() - c.notBefore.getTime();
  return c.notBefore.getTime() + Math.floor((life * 2) / 3);
}

/**
 * Enrolls with a one-time token, sending it only to the controller whose CA
 * the token's join string (or --ca-sha256) pins (issue 11, hole 9):
 *
 *  1. a bare TLS handshake fetches the chain the controller presents, which
 *     carries its CA; the CA whose SHA-256 (DER) is the pin is taken from it,
 *     and a chain without it ends enrollment here, before any token is sent;
 *  2. the Enroll call runs on a connection that verifies the server against
 *     that CA (chain and CN cordon-controller), so a man in the middle, who
 *     cannot sign with the CA key, never completes the handshake that carries
 *     the token;
 *  3. the CA Enroll returns must be the pinned one.
 *
 * Without a pin, enrollment is refused unless insecureSkipCaCheck: then the
 * CA of the first handshake is trusted (trust on first use), as before.
 */
export async function enroll(opts: { controller: string; token: string; name: string; caSha256?: string; insecureSkipCaCheck?: boolean; store: IdentityStore }): Promise<Credentials> {
  const join = parseJoin(opts.token);
  const flagPin = opts.caSha256 ? normalizeCaHash(opts.caSha256) : null;
  if (opts.caSha256 && !flagPin) throw new IdentityError('--ca-sha256 must be the hex SHA-256 of the CA certificate (64 hex digits, optionally sha256: and colons)');
  if (join.caHex && flagPin && join.caHex !== flagPin) throw new IdentityError('the CA pin of the join string and --ca-sha256 differ: give one of them');
  const pin = join.caHex ?? flagPin;
  if (!pin && !opts.insecureSkipCaCheck) {
    throw new IdentityError(
      'refusing to enroll without the controller\'s CA pin: pass the join string that `cordon token create` prints (TOKEN.CAHEX) as --token, or --ca-sha256, or --insecure-skip-ca-check to trust the first controller that answers',
    );
  }
  const chain = await probeServerChain(opts.controller);
  const caCert = pin ? chain.find((c) => fingerprint(c) === pin) : chain.find((c) => isCa(c)) ?? chain[chain.length - 1];
  if (!caCert || !isCa(caCert)) {
    const seen = chain.filter(isCa).map((c) => fingerprint(c));
    throw new IdentityError(
      pin
        ? `the controller at ${opts.controller} presents ${seen.length ? `the CA sha256:${seen.join(', sha256:')}` : 'no CA certificate'}, not the pinned sha256:${pin}: the enrollment token was not sent (another controller, or a man in the middle?)`
        : `the controller at ${opts.controller} presents no CA certificate in its TLS chain: cannot enroll`,
    );
  }
  const { keyPem, csrPem } = await newKeyAndCsr(opts.name);
  let servedBy: string | null = null;
  const client = controlClient(opts.controller, { caPem: caCert, onServerCert: (c) => {
    // Node hands checkServerIdentity the detailed certificate (tls.js onConnectSecure: getPeerCertificate(true)).
    const issuer = (c as tls.DetailedPeerCertificate).issuerCertificate;
    servedBy = issuer?.raw ? fingerprint(issuer.raw) : null;
  } });
  let res: EnrollResponse;
  try {
    res = await rpc.enroll(client, { token: join.token, csrPem, name: opts.name });
  } finally {
    client.close();
  }
  if (fingerprint(res.caPem) !== fingerprint(caCert)) throw new IdentityError(`the controller returned the CA sha256:${fingerprint(res.caPem)}, not the one it presented (sha256:${fingerprint(caCert)}): refusing`);
  if (servedBy !== null && servedBy !== fingerprint(caCert)) throw new IdentityError('the Enroll connection was served under another CA than the pinned one: refusing');
  return opts.store.save(keyPem, res);
}

/**
 * The CA pin of the --token (or --ca-sha256) when it is not the CA the stored
 * certificate was issued under (a reinstalled controller, a gateway moved to
 * another site): the enforcer then enrolls anew with that token rather than
 * retrying a TLS chain the controller will never accept. Null otherwise
 * (no token, no pin, or the same CA: a token left in the configuration
 * after its enrollment changes nothing).
 */
export function tokenPinsAnotherCa(stored: Credentials, token: string | undefined, caSha256?: string): { stored: string; pinned: string } | null {
  if (!token) return null;
  const pinned = parseJoin(token).caHex ?? (caSha256 ? normalizeCaHash(caSha256) : null);
  if (!pinned) return null;
  const have = fingerprint(stored.caPem);
  return have === pinned ? null : { stored: have, pinned };
}

function isCa(pem: string): boolean {
  try {
    return new X509Certificate(pem).ca;
  } catch {
    return false;
  }
}

/**
 * The certificates the controller presents, leaf first, as PEM (no verification:
 * only used to find the pinned CA, which the Enroll connection then verifies against).
 */
function probeServerChain(address: string): Promise<string[]> {
  const hp = parseHostPort(address);
  if (!hp) return Promise.reject(new IdentityError(`--controller must be HOST:PORT, got "${address}"`));
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: hp.host, port: hp.port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'cordon-controller' }, () => {
      const out: string[] = [];
      const seen = new Set<string>();
      for (let c: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true); c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
        seen.add(c.fingerprint256);
        out.push(new X509Certificate(c.raw).toString());
      }
      s.destroy();
      if (!out.length) reject(new IdentityError(`the controller at ${address} presented no TLS certificate`));
      else resolve(out);
    });
    s.setTimeout(15_000, () => s.destroy(new Error('timed out')));
    s.on('error', (e) => reject(Object.assign(new Error(`controller ${address}: ${e.message}`), { code: 14 })));
  });
}
