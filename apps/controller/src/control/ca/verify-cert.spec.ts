import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateAuthority, EC_ALG } from './certificate-authority';
import { readSignedDer, readVerified, serialHex } from './verify-cert';

jest.setTimeout(60_000);

const keys = () => webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
async function csr() {
  return (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: await keys(), signingAlgorithm: EC_ALG })).toString('pem');
}
/** What the controller read with @peculiar/x509 before (the reference). */
async function peculiar(pem: string, ca: CertificateAuthority) {
  const c = new x509.X509Certificate(pem);
  return { ok: await c.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true }), v: { serial: c.serialNumber.toLowerCase(), subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter } };
}

describe('readVerified (node:crypto on the stream-accepting path)', () => {
  const dirs: string[] = [];
  const open = () => CertificateAuthority.open(dirs[dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-vc-'))) - 1]);
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('reads what @peculiar/x509 read: serial (the one issued), subject, dates, from PEM and DER', async () => {
    const ca = await open();
    const key = new X509Certificate(ca.certificatePem).publicKey;
    for (let i = 0; i < 20; i++) {
      const s = await ca.signEnforcerCsr(await csr(), `gw-${i}`, 3600_000 + i * 1777);
      const ref = await peculiar(s.certificatePem, ca);
      const der = Buffer.from(new x509.X509Certificate(s.certificatePem).rawData);
      expect(ref.ok).toBe(true);
      expect(readVerified(der, key)).toEqual(ref.v);
      expect(readVerified(s.certificatePem, key)).toEqual(ref.v);
      expect(ref.v.serial).toBe(s.serial);
      expect(ref.v.subject).toBe(`CN=gw-${i}, O=Cordon enforcers`);
    }
    const server = await ca.issueServerCertificate();
    expect(readVerified(server.certPem, key)).toEqual((await peculiar(server.certPem, ca)).v);
  });

  it('reads the DER of the certificates the CA issues without X509Certificate, as the general path does', async () => {
    const ca = await open();
    const key = new X509Certificate(ca.certificatePem).publicKey;
    for (let i = 0; i < 10; i++) {
      const s = await ca.signEnforcerCsr(await csr(), `gw-${i}`, 3600_000 + i * 86_400_000 * 3000); // some past 2050: GeneralizedTime
      const der = Buffer.from(new x509.X509Certificate(s.certificatePem).rawData);
      const general = readVerified(s.certificatePem, key); // a PEM string: node:crypto's X509Certificate
      expect(readSignedDer(der, key)).toEqual(general);
      expect(general).toEqual((await peculiar(s.certificatePem, ca)).v);
    }
    const server = Buffer.from(new x509.X509Certificate((await ca.issueServerCertificate()).certPem).rawData);
    expect(readSignedDer(server, key)).toEqual(readVerified(new X509Certificate(server).toString(), key));
  });

  it('the DER reader leaves to the general path what it does not read, and never accepts a bad signature', async () => {
    const [ca, other] = [await open(), await open()];
    const key = new X509Certificate(ca.certificatePem).publicKey;
    const der = Buffer.from(new x509.X509Certificate((await ca.signEnforcerCsr(await csr(), 'gw-1', 3600_000)).certificatePem).rawData);
    expect(readSignedDer(der, key)).not.toBeNull();
    // another CA's certificate, a signature or a signed octet altered, truncated, trailing octets: not read
    expect(readSignedDer(Buffer.from(new x509.X509Certificate((await other.signEnforcerCsr(await csr(), 'gw-1', 3600_000)).certificatePem).rawData), key)).toBeNull();
    for (const at of [der.length - 5, 40, 60, 100]) {
      const bad = Buffer.from(der);
      bad[at] ^= 0x01;
      expect(readSignedDer(bad, key)).toBeNull();
      expect(['bad-signature', 'unparsable']).toContain(readVerified(bad, key));
    }
    expect(readSignedDer(der.subarray(0, der.length - 1), key)).toBeNull();
    expect(readSignedDer(Buffer.concat([der, Buffer.from([0])]), key)).toBeNull();
    expect(readSignedDer(Buffer.from('garbage'), key)).toBeNull();
    // a subject attribute the CA does not write (OU) or a value OpenSSL would escape: the general path reads it
    for (const name of ['CN=a, OU=b', 'CN=a\\,b, O=c']) {
      const k = await keys();
      const c = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name, keys: k, signingAlgorithm: EC_ALG });
      const d = Buffer.from(c.rawData);
      expect(readSignedDer(d, new X509Certificate(d).publicKey)).toBeNull();
      expect(readVerified(d, new X509Certificate(d).publicKey)).toMatchObject({ serial: '01' });
    }
  });

  it('serials as @peculiar/x509 gives them, a sign octet or not', async () => {
    for (const serial of ['ff01', '80', '7f', '01', '0a0b', '000102', '7fffffffffffffffffffffffffffffff', 'ffffffffffffffffffffffffffffffffff']) {
      const c = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: serial, name: 'CN=a, O=b', keys: await keys(), signingAlgorithm: EC_ALG, notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2051-06-01T12:34:56Z') });
      const der = Buffer.from(c.rawData);
      const v = readVerified(der, new X509Certificate(der).publicKey);
      expect(v).toEqual({ serial: c.serialNumber.toLowerCase(), subject: 'CN=a, O=b', notBefore: c.notBefore, notAfter: c.notAfter });
    }
    expect(serialHex('ABC')).toBe('0abc');
  });

  it('refuses a certificate of another CA (bad-signature) and garbage (unparsable)', async () => {
    const [ca, other] = [await open(), await open()];
    const key = new X509Certificate(ca.certificatePem).publicKey;
    const foreign = await other.signEnforcerCsr(await csr(), 'gw-1', 3600_000);
    expect(readVerified(foreign.certificatePem, key)).toBe('bad-signature');
    // A certificate self-signed with another kind of key: refused, not thrown.
    const rsa = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=gw-1, O=Cordon enforcers', signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      keys: (await webcrypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair,
    });
    expect(readVerified(Buffer.from(rsa.rawData), key)).toBe('bad-signature');
    expect(readVerified(Buffer.from('not a certificate'), key)).toBe('unparsable');
    const der = Buffer.from(new x509.X509Certificate((await ca.signEnforcerCsr(await csr(), 'gw-2', 3600_000)).certificatePem).rawData);
    der[der.length - 5] ^= 0xff; // the signature altered
    expect(['bad-signature', 'unparsable']).toContain(readVerified(der, key));
    // check() refuses each the same way (its spec covers expired, revoked and wrong-kind on this path)
    expect(await ca.check(foreign.certificatePem)).toEqual({ ok: false, why: 'bad-signature' });
    expect(await ca.check(Buffer.from(rsa.rawData))).toEqual({ ok: false, why: 'bad-signature' });
    expect(await ca.check(Buffer.from('garbage'))).toEqual({ ok: false, why: 'unknown' });
  });
});
