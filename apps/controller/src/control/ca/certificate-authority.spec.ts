import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateAuthority, EC_ALG } from './certificate-authority';
import { SharedCertificateLists } from './shared-certificate-lists';
import { openStore } from '../../store/open';
import type { SqlDatabase } from '../../store/sql';

jest.setTimeout(60_000);

async function csr(name = 'whatever', alg: webcrypto.EcKeyGenParams & { hash: string } = EC_ALG) {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${name}`, keys, signingAlgorithm: alg });
  return req.toString('pem');
}

describe('CertificateAuthority', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-ca-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates a P-256 CA on first start with a 0600 key and reopens the same one', async () => {
    const ca = await CertificateAuthority.open(dir);
    expect(fs.statSync(path.join(dir, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
    expect((ca.certificate.publicKey.algorithm as webcrypto.EcKeyAlgorithm).namedCurve).toBe('P-256');
    const again = await CertificateAuthority.open(dir);
    expect(again.certificatePem).toBe(ca.certificatePem);
  });

  it('refuses a CA key readable by others', async () => {
    await CertificateAuthority.open(dir);
    fs.chmodSync(path.join(dir, 'ca', 'ca.key'), 0o644);
    await expect(CertificateAuthority.open(dir)).rejects.toThrow(/chmod 600/);
  });

  it('signs a CSR for the given name, records the serial, and verifies it; the lists (in the embedded store) survive a restart', async () => {
    const storeDir = path.join(dir, 'store');
    const withStore = async <T>(fn: (ca: CertificateAuthority) => Promise<T>) => {
      const store = await openStore({ dataDir: storeDir });
      const ca = await CertificateAuthority.open(dir, undefined, { lists: (id) => SharedCertificateLists.open(store.sql as SqlDatabase, id) });
      try {
        return await fn(ca);
      } finally {
        await ca.close();
        await store.close();
      }
    };
    const [signed, revoked] = await withStore(async (ca) => {
      const signed = await ca.signEnforcerCsr(await csr('evil-other-name'), 'gw-1', 24 * 3600_000);
      const cert = new x509.X509Certificate(signed.certificatePem);
      expect(cert.subjectName.getField('CN')).toEqual(['gw-1']);
      expect(await cert.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true })).toBe(true);
      expect(ca.issuedTo(signed.serial)?.name).toBe('gw-1');
      expect(await ca.check(signed.certificatePem)).toMatchObject({ ok: true, name: 'gw-1' });
      const revoked = await ca.signEnforcerCsr(await csr(), 'gw-2', 24 * 3600_000);
      expect(await ca.revokeName('gw-2')).toEqual([revoked.serial]);
      expect(await ca.revokeName('gw-2')).toEqual([]); // idempotent
      return [signed, revoked];
    });
    // Serials and revocations survive a restart; nothing is kept in files beside the CA.
    await withStore(async (again) => {
      expect(await again.check(signed.certificatePem)).toMatchObject({ ok: true, name: 'gw-1' });
      expect(await again.check(revoked.certificatePem)).toEqual({ ok: false, why: 'revoked' });
      expect(new x509.X509Crl(again.crl).entries.map((e) => e.serialNumber.toLowerCase())).toEqual([revoked.serial]);
    });
    expect(fs.readdirSync(path.join(dir, 'ca')).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it('rejects garbage, foreign, expired and revoked certificates', async () => {
    const ca = await CertificateAuthority.open(dir);
    await expect(ca.signEnforcerCsr('not a csr', 'gw-1', 1000)).rejects.toThrow(/csr_pem/);
    await expect(ca.signEnforcerCsr(await csr('x', { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' }), 'gw-1', 1000)).rejects.toThrow(/P-256/);
    const other = await CertificateAuthority.open(fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-ca2-')));
    const foreign = await other.signEnforcerCsr(await csr(), 'gw-1', 3600_000);
    expect(await ca.check(foreign.certificatePem)).toEqual({ ok: false, why: 'bad-signature' });
    const short = await ca.signEnforcerCsr(await csr(), 'gw-1', 3600_000);
    expect(await ca.check(short.certificatePem, new Date(Date.now() + 2 * 3600_000))).toEqual({ ok: false, why: 'expired' });
    expect(await ca.revokeName('gw-1')).toContain(short.serial);
    expect(await ca.check(short.certificatePem)).toEqual({ ok: false, why: 'revoked' });
    const crl = new x509.X509Crl(ca.crl);
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase())).toContain(short.serial);
    expect(await crl.verify({ publicKey: ca.certificate.publicKey })).toBe(true);
    const server = await ca.issueServerCertificate();
    expect(await ca.check(server.certPem)).toEqual({ ok: false, why: 'wrong-kind' });
  });
});
