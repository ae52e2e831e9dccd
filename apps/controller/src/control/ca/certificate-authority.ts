// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer CA: an ECDSA P-256 self-signed CA kept under DATA_DIR/ca/,
 * created on first start. It signs enforcer CSRs (the enforcer's key never
 * leaves the enforcer), issues the controller's own gRPC server certificate,
 * records every serial it issues, and keeps the revocation list. Both lists
 * are in the store, shared by every controller of the site
 * (shared-certificate-lists.ts); the issued.json and revoked.json kept here
 * before are imported once (legacy-lists.ts).
 *
 * Files: ca.crt, crl.pem (written from the shared revoked list), and the key: like the device
 * CA's (keys/), sealed with --kek-file in ca.key.sealed or kept in a PKCS#11 token
 * (label cordon-enforcer-ca); without either, a plain ca.key (PKCS#8 PEM, mode
 * 0600) as before, which `cordon controller ca seal` migrates.
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs it loaded first
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, type KeyObject, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { readVerified, type VerifiedCert } from './verify-cert';
import * as x509 from '@peculiar/x509';
import { signingCrypto, type CaKey } from '../../keys/ca-key';
import { keyStoreConfigured, openCaKey, type KeyStoreConfig } from '../../keys/open-ca-key';
import { MemoryCertificateLists, type CertificateLists, type IssuedCert, type RevokedCert } from './certificate-lists';
import { importLegacyLists, type LegacyImporter } from './legacy-lists';
import { trimOldest } from '../../../../common/src/lru';

/** Certificates remembered as verified: a site's enforcers, and their renewals. */
const VERIFIED_CACHE = 50_000;

export type { IssuedCert, RevokedCert } from './certificate-lists';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

export interface SignedCert {
  certificatePem: string;
  serial: string;
  notAfter: Date;
}

/** Why a presented certificate is refused (null: accepted). */
export type CertRefusal = 'unknown' | 'revoked' | 'expired' | 'not-yet-valid' | 'bad-signature' | 'wrong-kind';

export class CaError extends Error {}

/** How the enforcer CA key is kept in a key store (keys/open-ca-key.ts). */
export const ENFORCER_CA_KEY = { purpose: 'enforcer-ca-key', pkcs11KeyLabel: 'cordon-enforcer-ca', what: 'the enforcer CA key' } as const;

/** A plain PKCS#8 key file as a CaKey (the default when no key store is configured). */
class PlainCaKey implements CaKey {
  readonly kind = 'file' as const;
  constructor(
    private readonly privateKey: webcrypto.CryptoKey,
    readonly publicKey: webcrypto.CryptoKey,
    private readonly file: string,
  ) {}
  sign(data: ArrayBuffer | Uint8Array): Promise<ArrayBuffer> {
    return subtle.sign(EC_ALG, this.privateKey, data);
  }
  describe() {
    return { store: 'plain-file', keyFile: this.file, sealed: false };
  }
  async close() {}
}

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

/** Which lists a CA keeps (certificate-lists.ts), given the CA's id (caId()). */
export type ListsFactory = (ca: string) => Promise<CertificateLists & LegacyImporter>;

export interface CaOptions {
  /** The store's lists; without it (test fixtures), lists in memory, and legacy files are left alone. */
  lists?: ListsFactory;
  /** Told when a CRL for another controller's revocation could not be made (this CA's previous one stays). */
  onCrlError?: (err: Error) => void;
}

/** A CA's id in the store: SHA-256 hex of its certificate's DER. */
export function caId(cert: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');
}

export class CertificateAuthority {
  private crlPem = '';
  private crlQueue: Promise<unknown> = Promise.resolve();
  /** verified(): by DER digest, the most recently added last. */
  private readonly verifiedCerts = new Map<string, VerifiedCert>();

  private readonly crypto: webcrypto.Crypto;
  /** The CA's public key for node:crypto's X509Certificate.verify (verified()). */
  private readonly verifyKey: KeyObject;

  private constructor(
    readonly dir: string,
    readonly key: CaKey,
    readonly certificate: x509.X509Certificate,
    private readonly lists: CertificateLists,
  ) {
    this.crypto = signingCrypto(key);
    // Signing goes through `crypto`, which signs with `key` when handed its public half.
    this.verifyKey = new NodeX509(Buffer.from(certificate.rawData)).publicKey;
  }

  /**
   * Opens the CA under dataDir/ca, creating it on first start. With a key store
   * (keyStore.kekFile or a PKCS#11 token) the key lives there; a plain ca.key
   * left from before is refused with the command that migrates it. With
   * opts.lists, the lists are the store's, and issued.json / revoked.json left
   * from before are imported into it.
   */
  static async open(dataDir: string, keyStore?: Omit<KeyStoreConfig, 'dir'>, opts: CaOptions = {}): Promise<CertificateAuthority> {
    const dir = path.join(dataDir, 'ca');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyFile = path.join(dir, 'ca.key');
    const certFile = path.join(dir, 'ca.crt');
    let key: CaKey;
    if (keyStore && keyStoreConfigured({ dir, ...keyStore })) {
      if (fs.existsSync(keyFile)) {
        throw new CaError(
          `${keyFile} holds the enforcer CA key in clear, and a key store is configured: seal it first with ` +
            `\`cordon controller ca seal --data-dir ${dataDir} --kek-file FILE\` (the same --kek-file), then start again`,
        );
      }
      key = await openCaKey({ dir, ...keyStore, ...ENFORCER_CA_KEY });
    } else if (fs.existsSync(keyFile)) {
      const st = fs.statSync(keyFile);
      if ((st.mode & 0o077) !== 0) {
        throw new CaError(`${keyFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}): run chmod 600 ${keyFile}`);
      }
      key = await CertificateAuthority.importPlain(fs.readFileSync(keyFile, 'utf8'), keyFile);
    } else if (fs.existsSync(path.join(dir, 'ca.key.sealed'))) {
      throw new CaError(`the enforcer CA key in ${path.join(dir, 'ca.key.sealed')} is sealed: give the --kek-file it was sealed with`);
    } else {
      const keys = (await subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
      writePrivate(keyFile, toPem(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));
      key = new PlainCaKey(keys.privateKey, keys.publicKey, keyFile);
    }
    let cert: x509.X509Certificate;
    const spki = Buffer.from(await subtle.exportKey('spki', key.publicKey));
    if (fs.existsSync(certFile)) {
      cert = new x509.X509Certificate(fs.readFileSync(certFile, 'utf8'));
      if (!Buffer.from(cert.publicKey.rawData).equals(spki)) {
        throw new CaError(`${certFile} belongs to another key than the configured enforcer CA key (${JSON.stringify(key.describe())}): give the key store it was made with`);
      }
    } else {
      const now = Date.now();
      const crypto = signingCrypto(key);
      const name = `CN=Cordon enforcer CA ${os.hostname()}, O=Cordon`;
      cert = await x509.X509CertificateGenerator.create(
        {
          serialNumber: randomSerial(),
          subject: name,
          issuer: name,
          notBefore: new Date(now - 60_000),
          notAfter: new Date(now + 10 * 365 * 86400_000),
          signingAlgorithm: EC_ALG,
          publicKey: key.publicKey,
          signingKey: key.publicKey,
          extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
            await x509.SubjectKeyIdentifierExtension.create(key.publicKey, false, crypto),
          ],
        },
        crypto,
      );
      fs.writeFileSync(certFile, cert.toString('pem') + '\n');
    }
    let lists: CertificateLists = new MemoryCertificateLists();
    if (opts.lists) {
      const shared = await opts.lists(caId(cert));
      try {
        await importLegacyLists(dir, shared);
      } catch (err) {
        await shared.close();
        throw err;
      }
      lists = shared;
    }
    const ca = new CertificateAuthority(dir, key, cert, lists);
    await ca.publishCrl();
    // Another controller's revocations are in this controller's CRL as soon as they reach its list.
    lists.onRevokedChange(() => void ca.publishCrl().catch((err: Error) => opts.onCrlError?.(err)));
    return ca;
  }

  /** A plain PKCS#8 PEM key as a CaKey (non-extractable private half). */
  static async importPlain(pem: string, where: string): Promise<CaKey> {
    const der = x509.PemConverter.decodeFirst(pem);
    const privateKey = await subtle.importKey('pkcs8', der, EC_ALG, false, ['sign']);
    const tmp = await subtle.importKey('pkcs8', der, EC_ALG, true, ['sign']);
    const jwk = await subtle.exportKey('jwk', tmp);
    delete jwk.d;
    const publicKey = await subtle.importKey('jwk', { ...jwk, key_ops: ['verify'] }, EC_ALG, true, ['verify']);
    return new PlainCaKey(privateKey, publicKey, where);
  }

  get certificatePem(): string {
    return this.certificate.toString('pem') + '\n';
  }
  get crl(): string {
    return this.crlPem;
  }

  /** Records an issuance in the lists (the store: every controller of the site then knows it). */
  private recordIssued(c: IssuedCert): Promise<void> {
    return this.lists.recordIssued(c);
  }

  /** Stops following other controllers' revocations (the key stays open). */
  async close(): Promise<void> {
    await this.lists.close();
    await this.crlQueue;
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
      signingKey: this.key.publicKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.key.publicKey, false, this.crypto),
      ],
    }, this.crypto);
    await this.recordIssued({ serial, name, kind: 'enforcer', issuedAt: new Date(now).toISOString(), notAfter: notAfter.toISOString() });
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
      signingKey: this.key.publicKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([...names].map((n) => ({ type: isIp(n) ? 'ip' : 'dns', value: n }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.key.publicKey, false, this.crypto),
      ],
    }, this.crypto);
    await this.recordIssued({ serial, name: 'cordon-controller', kind: 'server', issuedAt: new Date(now).toISOString(), notAfter: notAfter.toISOString() });
    return { certPem: cert.toString('pem') + '\n', keyPem: toPem(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') };
  }

  /** What this controller knows was issued (check() also asks the store). */
  issuedTo(serial: string): IssuedCert | undefined {
    return this.lists.issuedKnown(serial.toLowerCase());
  }
  /** Revoked by any controller of the site (as of the last refresh, a second at most behind on a shared PostgreSQL). */
  isRevoked(serial: string): boolean {
    return this.lists.isRevoked(serial.toLowerCase());
  }
  revokedList(): RevokedCert[] {
    return this.lists.revoked();
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
    const cert = await this.verified(certPemOrDer);
    if (cert === 'unparsable') return { ok: false, why: 'unknown' };
    if (cert === 'bad-signature') return { ok: false, why: 'bad-signature' };
    const serial = cert.serial;
    const rec = await this.lists.lookupIssued(serial);
    if (!rec) {
      // Signed by this CA but issued by another controller sharing it: the caller may know it (the store).
      const cn = /CN=([a-z0-9-]+)/.exec(cert.subject)?.[1];
      const inDates = at >= cert.notBefore && at <= cert.notAfter;
      const enforcerCert = cert.subject.includes('O=Cordon enforcers');
      return { ok: false, why: 'unknown', claimed: cn && inDates && enforcerCert && !this.lists.isRevoked(serial) ? { name: cn, serial, notAfter: cert.notAfter } : undefined };
    }
    if (rec.kind !== 'enforcer') return { ok: false, why: 'wrong-kind' };
    if (this.lists.isRevoked(serial)) return { ok: false, why: 'revoked' };
    if (at < cert.notBefore) return { ok: false, why: 'not-yet-valid' };
    if (at > cert.notAfter) return { ok: false, why: 'expired' };
    return { ok: true, name: rec.name, serial, notAfter: cert.notAfter };
  }

  /**
   * A certificate parsed and its signature checked against this CA, or why not:
   * once per certificate (by its DER's digest), since every stream and call an
   * enforcer opens presents the same one; a controller taking over a dead one's
   * enforcers meets each for the first time, so the miss is node:crypto's
   * (verify-cert.ts). What changes (revocation, dates) is checked by the caller
   * each time.
   */
  private async verified(certPemOrDer: string | Buffer): Promise<VerifiedCert | 'unparsable' | 'bad-signature'> {
    const key = createHash('sha256').update(certPemOrDer).digest('base64');
    const hit = this.verifiedCerts.get(key);
    if (hit) return hit;
    const v = readVerified(certPemOrDer, this.verifyKey);
    if (typeof v === 'string') return v;
    this.verifiedCerts.set(key, v);
    trimOldest(this.verifiedCerts, VERIFIED_CACHE);
    return v;
  }

  /**
   * Revokes every certificate issued to an enforcer name, by any controller of
   * the site, not yet revoked; returns the serials revoked now (again: none).
   */
  async revokeName(name: string): Promise<string[]> {
    const out = await this.lists.revokeName(name, new Date());
    if (out.length) await this.publishCrl();
    return out.map((r) => r.serial);
  }

  /** Signs and writes the CRL from the shared revoked list (republished on every revocation, here or elsewhere); one at a time. */
  publishCrl(): Promise<string> {
    const next = this.crlQueue.catch(() => undefined).then(() => this.makeCrl());
    this.crlQueue = next.catch(() => undefined);
    return next;
  }

  private async makeCrl(): Promise<string> {
    const now = new Date();
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.certificate.subject,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86400_000),
      entries: this.lists.revoked().map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt) })),
      signingKey: this.key.publicKey,
      signingAlgorithm: EC_ALG,
    }, this.crypto);
    this.crlPem = crl.toString('pem') + '\n';
    fs.writeFileSync(path.join(this.dir, 'crl.pem'), this.crlPem);
    return this.crlPem;
  }
}
