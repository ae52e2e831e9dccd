// SPDX-License-Identifier: Apache-2.0
/**
 * The device CA: a self-signed ECDSA P-256 CA (apart from the enforcer CA in
 * control/ca) whose key is a CaKey — in a PKCS#11 token or a KEK-sealed file.
 * It issues device certificates and the EST server's own certificate, and signs
 * CRLs. Files under DATA_DIR/device-ca: ca.crt, est-server.{crt,key}, crl.pem,
 * and (file store only) ca.key.sealed.
 *
 * A device certificate carries: subject CN = the Device's name, O = Cordon device;
 * SAN URI urn:cordon:device:NAME and one SAN URI per label,
 * urn:cordon:label:KEY=VALUE (both percent-encoded), so a broker or an ACL can
 * match on labels; EKU clientAuth.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CA_ALG, signingCrypto, type CaKey } from '../keys/ca-key';

export class DeviceCaError extends Error {}

export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // a positive INTEGER
  b[0] |= 0x01; // without a leading zero byte, so its hex is stable
  return b.toString('hex');
}

export function deviceUris(name: string, labels: Record<string, string>): string[] {
  return [
    `urn:cordon:device:${encodeURIComponent(name)}`,
    ...Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `urn:cordon:label:${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
  ];
}

export interface IssueRequest {
  commonName: string;
  publicKey: x509.PublicKey | webcrypto.CryptoKey;
  notAfter: Date;
  uris?: string[];
  dnsNames?: string[];
  ips?: string[];
  server?: boolean;
}

export class DeviceCa {
  private readonly crypto: webcrypto.Crypto;

  private constructor(
    readonly dir: string,
    readonly key: CaKey,
    readonly certificate: x509.X509Certificate,
  ) {
    this.crypto = signingCrypto(key);
  }

  /** Opens the CA under dir with this key, creating its certificate on first start. */
  static async open(dir: string, key: CaKey): Promise<DeviceCa> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certFile = path.join(dir, 'ca.crt');
    const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', key.publicKey));
    if (fs.existsSync(certFile)) {
      const cert = new x509.X509Certificate(fs.readFileSync(certFile, 'utf8'));
      if (!Buffer.from(cert.publicKey.rawData).equals(spki)) {
        throw new DeviceCaError(
          `${certFile} belongs to another key than the configured one (${JSON.stringify(key.describe())}); ` +
            'give the key store it was made with, or move the directory away to start a new device CA (every device then needs a new credential)',
        );
      }
      return new DeviceCa(dir, key, cert);
    }
    const now = Date.now();
    const crypto = signingCrypto(key);
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: `CN=Cordon device CA ${os.hostname()}, O=Cordon`,
        issuer: `CN=Cordon device CA ${os.hostname()}, O=Cordon`,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 10 * 365 * 86400_000),
        publicKey: key.publicKey,
        signingKey: key.publicKey,
        signingAlgorithm: CA_ALG,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(key.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    fs.writeFileSync(certFile, cert.toString('pem') + '\n');
    return new DeviceCa(dir, key, cert);
  }

  get certificatePem(): string {
    return this.certificate.toString('pem') + '\n';
  }

  async issue(req: IssueRequest): Promise<x509.X509Certificate> {
    const now = Date.now();
    const names: x509.JsonGeneralName[] = [
      ...(req.uris ?? []).map((value) => ({ type: 'url' as const, value })),
      ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(req.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const notAfter = req.notAfter.getTime() > this.certificate.notAfter.getTime() ? this.certificate.notAfter : req.notAfter;
    return x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: new x509.Name([{ CN: [req.commonName] }, { O: [req.server ? 'Cordon' : 'Cordon device'] }]),
        issuer: this.certificate.subjectName,
        notBefore: new Date(now - 60_000),
        notAfter,
        publicKey: req.publicKey,
        signingKey: this.key.publicKey,
        signingAlgorithm: CA_ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([req.server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
          await x509.SubjectKeyIdentifierExtension.create(req.publicKey, false, this.crypto),
          await x509.AuthorityKeyIdentifierExtension.create(this.certificate, false, this.crypto),
          ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
        ],
      },
      this.crypto,
    );
  }

  /** Did this CA sign cert (signature and issuer)? Expiry and revocation are checked by the caller. */
  async signed(cert: x509.X509Certificate): Promise<boolean> {
    if (cert.issuer !== this.certificate.subject) return false;
    try {
      return await cert.verify({ publicKey: this.key.publicKey, signatureOnly: true });
    } catch {
      return false;
    }
  }
}
