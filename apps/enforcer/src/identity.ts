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
import { createHash, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { controlClient, rpc } from '../../../proto/cordon/v1/client';
import type { EnrollResponse } from '../../../proto/cordon/v1/control';

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

export function fingerprint(pem: string): string {
  return createHash('sha256').update(Buffer.from(new x509.X509Certificate(pem).rawData)).digest('hex');
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
 * Enrolls with a one-time token. The controller's CA is not known yet: the
 * server certificate of this handshake is recorded and must have been signed by
 * the CA that Enroll returns, and that CA must match --ca-sha256 when given.
 */
export async function enroll(opts: { controller: string; token: string; name: string; caSha256?: string; store: IdentityStore }): Promise<Credentials> {
  const { keyPem, csrPem } = await newKeyAndCsr(opts.name);
  // Node calls checkServerIdentity only for verified chains, so with no CA to verify
  // against yet the server certificate is fetched with a bare TLS handshake.
  const serverCert = await probeServerCertificate(opts.controller);
  const client = controlClient(opts.controller, { caPem: null });
  let res: EnrollResponse;
  try {
    res = await rpc.enroll(client, { token: opts.token, csrPem, name: opts.name });
  } finally {
    client.close();
  }
  const ca = new x509.X509Certificate(res.caPem);
  if (opts.caSha256) {
    const want = opts.caSha256.toLowerCase().replace(/^sha256:/, '').replace(/:/g, '');
    if (fingerprint(res.caPem) !== want) throw new IdentityError(`the controller's CA fingerprint is ${fingerprint(res.caPem)}, not the --ca-sha256 given`);
  }
  const presented = serverCert;
  if (!presented?.raw) throw new IdentityError('the controller presented no TLS certificate');
  const server = new x509.X509Certificate(presented.raw);
  if (!(await server.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(() => false))) {
    throw new IdentityError('the controller\'s TLS certificate is not signed by the CA it returned: refusing (man in the middle?)');
  }
  return opts.store.save(keyPem, res);
}

/** The certificate the controller presents (no verification: only compared with the CA Enroll returns). */
function probeServerCertificate(address: string): Promise<tls.PeerCertificate | null> {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  if (!m) return Promise.reject(new IdentityError(`--controller must be HOST:PORT, got "${address}"`));
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: m[1] ?? m[2], port: Number(m[3]), rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'cordon-controller' }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve(c?.raw ? c : null);
    });
    s.setTimeout(15_000, () => s.destroy(new Error('timed out')));
    s.on('error', (e) => reject(Object.assign(new Error(`controller ${address}: ${e.message}`), { code: 14 })));
  });
}
