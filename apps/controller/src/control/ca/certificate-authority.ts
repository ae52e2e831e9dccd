// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer CA: an ECDSA P-256 self-signed CA kept under DATA_DIR/ca/,
 * created on first start. It signs enforcer CSRs (the enforcer's key never
 * leaves the enforcer), issues the controller's own gRPC server certificate,
 * records every serial it issues, and keeps the revocation list.
 *
 * Files: ca.key (PKCS#8 PEM, mode 0600), ca.crt, issued.json, revoked.json, crl.pem.
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs it loaded first
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

export interface IssuedCert {
  serial: string;
  name: string;
  kind: 'enforcer' | 'server';
  issuedAt: string;
  notAfter: string;
}
export interface RevokedCert {
  serial: string;
  name: string;
  revokedAt: string;
}
export interface SignedCert {
  certificatePem: string;
  serial: string;
  notAfter: Date;
}

/** Why a presented certificate is refused (null: accepted). */
export type CertRefusal = 'unknown' | 'revoked' | 'expired' | 'not-yet-valid' | 'bad-signature' | 'wrong-kind';

export class CaError extends Error {}

export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive INTEGER
  b[0] |= 0x01; // and without a leading zero byte, so the hex is stable
  return b.toString('hex');
}

export function toPem(der: ArrayBuffer, label: string): string {
  return x509.PemConverter.encode(der, label) + '\n';
}

function writePrivate(file: string, data: string): void {
  fs.writeFileSync(file + '.tmp', data, { mode: 0o600 });
  fs.chmodSync(file + '.tmp', 0o600);
  fs.renameSync(file + '.tmp', file);
}
function writeJson(file: string, data: unknown): void {
  fs.writeFileSync(file + '.tmp', JSON.stringify(data, null, 2));
  fs.renameSync(file + '.tmp', file);
}

export class CertificateAuthority {
  private issued = new Map<string, IssuedCert>();
  private revoked = new Map<string, RevokedCert>();
  private crlPem = '';

  private constructor(
    readonly dir: string,
    private readonly keys: CryptoKeyPair,
    readonly certificate: x509.X509Certificate,
  ) {}

  /** Opens the CA under dataDir/ca, creating it (key mode 0600) on first start. */
  static async open(dataDir: string): Promise<CertificateAuthority> {
    const dir = path.join(dataDir, 'ca');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyFile = path.join(dir, 'ca.key');
    const certFile = path.join(dir, 'ca.crt');
    let ca: CertificateAuthority;
    if (fs.existsSync(keyFile) && fs.existsSync(certFile)) {
      const st = fs.statSync(keyFile);
      if ((st.mode & 0o077) !== 0) {
        throw new CaError(`${keyFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}): run chmod 600 ${keyFile}`);
      }
      const cert = new x509.X509Certificate(fs.readFileSync(certFile, 'utf8'));
      const der = x509.PemConverter.decodeFirst(fs.readFileSync(keyFile, 'utf8'));
      const privateKey = await subtle.importKey('pkcs8', der, EC_ALG, false, ['sign']);
      const publicKey = await cert.publicKey.export(EC_ALG, ['verify']);
      ca = new CertificateAuthority(dir, { privateKey, publicKey } as CryptoKeyPair, cert);
    } else {
      const keys = (await subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
      const now = Date.now();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: randomSerial(),
        name: `CN=Cordon enforcer CA ${os.hostname()}, O=Cordon`,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 10 * 365 * 86400_000),
        signingAlgorithm: EC_ALG,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      writePrivate(keyFile, toPem(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));
      fs.writeFileSync(certFile, cert.toString('pem') + '\n');
      ca = new CertificateAuthority(dir, keys, cert);
    }
    ca.load();
    await ca.publishCrl();
    return ca;
  }

  get certificatePem(): string {
    return this.certificate.toString('pem') + '\n';
  }
  get crl(): string {
    return this.crlPem;
  }

  private load(): void {
    const read = <T>(f: string): T[] => (fs.existsSync(path.join(this.dir, f)) ? JSON.parse(fs.readFileSync(path.join(this.dir, f), 'utf8')) : []);
    for (const c of read<IssuedCert>('issued.json')) this.issued.set(c.serial, c);
    for (const r of read<RevokedCert>('revoked.json')) this.revoked.set(r.serial, r);
  }
  private saveIssued(): void {
    // Certificates long expired are forgotten; revocations stay (the CRL is small).
    const cutoff = Date.now() - 7 * 86400_000;
    for (const [s, c] of this.issued) if (Date.parse(c.notAfter) < cutoff && !this.revoked.has(s)) this.issued.delete(s);
    writeJson(path.join(this.dir, 'issued.json'), [...this.issued.values()]);
  }

  /**
   * Signs an enforcer CSR. The CSR's own signature must verify (proof the caller
   * holds the key) and its key must be ECDSA P-256; its subject is ignored.
   */
  async signEnforcerCsr(csrPem: string, name: string, ttlMs: number): Promise<SignedCert> {
    const csr = await this.parseCsr(csrPem);
    const now = Date.now();
    const serial = randomSerial();
    const notAfter = new Date(now + ttlMs);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${name}, O=Cordon enforcers`,
      issuer: this.certificate.subject,
      notBefore: new Date(now - 60_000), // clock skew
      notAfter,
      signingAlgorithm: EC_ALG,
      publicKey: csr.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    this.issued.set(serial, { serial, name, kind: 'enforcer', issuedAt: new Date(now).toISOString(), notAfter: notAfter.toISOString() });
    this.saveIssued();
    return { certificatePem: cert.toString('pem') + '\n', serial, notAfter };
  }

  /** Parses a CSR and checks its key (ECDSA P-256) and self-signature; throws CaError. */
  async parseCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new CaError(`csr_pem is not a PEM PKCS#10 request: ${(err as Error).message}`);
    }
    const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
    if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw new CaError('csr_pem: the key must be ECDSA P-256');
    if (!(await csr.verify().catch(() => false))) throw new CaError('csr_pem: signature does not verify');
    return csr;
  }

  /** The controller's gRPC server certificate and key (new on every start, never written to disk). */
  async issueServerCertificate(extraNames: string[] = []): Promise<{ certPem: string; keyPem: string }> {
    const keys = (await subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const names = new Set(['localhost', os.hostname(), '127.0.0.1', '::1', ...extraNames]);
    for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) names.add(a.address.split('%')[0]);
    const isIp = (n: string) => /^[\d.]+$/.test(n) || n.includes(':');
    const now = Date.now();
    const serial = randomSerial();
    const notAfter = new Date(now + 365 * 86400_000);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: 'CN=cordon-controller, O=Cordon',
      issuer: this.certificate.subject,
      notBefore: new Date(now - 60_000),
      notAfter,
      signingAlgorithm: EC_ALG,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([...names].map((n) => ({ type: isIp(n) ? 'ip' : 'dns', value: n }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    this.issued.set(serial, { serial, name: 'cordon-controller', kind: 'server', issuedAt: new Date(now).toISOString(), notAfter: notAfter.toISOString() });
    this.saveIssued();
    return { certPem: cert.toString('pem') + '\n', keyPem: toPem(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') };
  }

  issuedTo(serial: string): IssuedCert | undefined {
    return this.issued.get(serial.toLowerCase());
  }
  isRevoked(serial: string): boolean {
    return this.revoked.has(serial.toLowerCase());
  }
  revokedList(): RevokedCert[] {
    return [...this.revoked.values()];
  }

  /**
   * Whether an enforcer certificate (already chain-verified by TLS, or not)
   * is acceptable now: issued by this CA, as an enforcer certificate, in its
   * validity period and not revoked.
   */
  async check(
    certPemOrDer: string | Buffer,
    at = new Date(),
  ): Promise<{ ok: true; name: string; serial: string; notAfter: Date } | { ok: false; why: CertRefusal; claimed?: { name: string; serial: string; notAfter: Date } }> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPemOrDer);
    } catch {
      return { ok: false, why: 'unknown' };
    }
    if (!(await cert.verify({ publicKey: this.keys.publicKey, signatureOnly: true }).catch(() => false))) return { ok: false, why: 'bad-signature' };
    const serial = cert.serialNumber.toLowerCase();
    const rec = this.issued.get(serial);
    if (!rec) {
      // Signed by this CA but issued by another controller sharing it: the caller may know it (the store).
      const cn = /CN=([a-z0-9-]+)/.exec(cert.subject)?.[1];
      const inDates = at >= cert.notBefore && at <= cert.notAfter;
      const enforcerCert = cert.subject.includes('O=Cordon enforcers');
      return { ok: false, why: 'unknown', claimed: cn && inDates && enforcerCert && !this.revoked.has(serial) ? { name: cn, serial, notAfter: cert.notAfter } : undefined };
    }
    if (rec.kind !== 'enforcer') return { ok: false, why: 'wrong-kind' };
    if (this.revoked.has(serial)) return { ok: false, why: 'revoked' };
    if (at < cert.notBefore) return { ok: false, why: 'not-yet-valid' };
    if (at > cert.notAfter) return { ok: false, why: 'expired' };
    return { ok: true, name: rec.name, serial, notAfter: cert.notAfter };
  }

  /** Revokes every unexpired certificate issued to an enforcer name; returns the serials revoked now. */
  async revokeName(name: string): Promise<string[]> {
    const now = new Date().toISOString();
    const out: string[] = [];
    for (const c of this.issued.values()) {
      if (c.kind === 'enforcer' && c.name === name && !this.revoked.has(c.serial)) {
        this.revoked.set(c.serial, { serial: c.serial, name, revokedAt: now });
        out.push(c.serial);
      }
    }
    if (out.length) {
      writeJson(path.join(this.dir, 'revoked.json'), [...this.revoked.values()]);
      await this.publishCrl();
    }
    return out;
  }

  /** Signs and writes the CRL (republished on every revocation). */
  async publishCrl(): Promise<string> {
    const now = new Date();
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.certificate.subject,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86400_000),
      entries: [...this.revoked.values()].map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt) })),
      signingKey: this.keys.privateKey,
      signingAlgorithm: EC_ALG,
    });
    this.crlPem = crl.toString('pem') + '\n';
    fs.writeFileSync(path.join(this.dir, 'crl.pem'), this.crlPem);
    return this.crlPem;
  }
}
