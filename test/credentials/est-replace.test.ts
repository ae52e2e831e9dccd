/**
 * Hole 16 (EST): simpleenroll presented with a live device certificate replaces
 * that certificate (the old one is revoked at once) instead of minting an extra
 * one, so a device, or whoever holds its key, cannot multiply its certificates.
 * Real curl against the EST server, real openssl keys and CSRs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { device, makeKek, run, startCaController, tmpDir, type CaController } from './helpers';

jest.setTimeout(120_000);

describe('hole 16: EST simpleenroll with a live certificate', () => {
  let t: CaController;
  let work: string;
  beforeAll(async () => {
    work = tmpDir('cordon-est-replace-');
    t = await startCaController({ kekFile: makeKek(path.join(work, 'secrets')) });
    expect((await t.call('POST', '/v1/apply', { documents: [device('meter-7', {}, '10.10.1.27')] })).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    for (const d of [work, t?.dataDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('16_est_simpleenroll_replaces: the presented certificate is revoked, the device holds one live certificate', async () => {
    const key = path.join(work, 'm7.key');
    const csr = path.join(work, 'm7.csr');
    expect((await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=meter-7'])).code).toBe(0);
    const first = await t.call('POST', '/v1/devices/meter-7/credentials', { kind: 'certificate', csr: fs.readFileSync(csr, 'utf8') });
    expect(first.status).toBe(201);
    const cert1 = path.join(work, 'm7.1.crt');
    fs.writeFileSync(cert1, first.body.certificate);
    const caFile = path.join(work, 'ca.pem');
    fs.writeFileSync(caFile, (await t.call('GET', '/v1/ca/cert')).body);

    const der = path.join(work, 'm7.der');
    expect((await run('openssl', ['req', '-in', csr, '-outform', 'DER', '-out', der])).code).toBe(0);
    fs.writeFileSync(der + '.b64', fs.readFileSync(der).toString('base64'));
    const enroll = (out: string) =>
      run('curl', ['-sS', '-o', out, '-w', '%{http_code}', '--max-time', '10', '--cacert', caFile, '--cert', cert1, '--key', key, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${der}.b64`, `https://127.0.0.1:${t.estPort}/.well-known/est/simpleenroll`]);
    expect((await enroll(path.join(work, 'a.p7'))).stdout).toBe('200');

    const st = (await t.call('GET', '/v1/devices/meter-7/credentials')).body;
    const live = st.items.filter((i: { kind: string; revokedAt: string | null }) => i.kind === 'certificate' && !i.revokedAt);
    expect(live).toHaveLength(1);
    expect(live[0].id).not.toBe(first.body.id);
    const old = st.items.find((i: { id: string }) => i.id === first.body.id);
    expect(old.revokedAt).toBeTruthy();
    // The replaced certificate cannot mint another.
    expect((await enroll(path.join(work, 'b.p7'))).stdout).toBe('401');
    expect((await t.call('GET', '/v1/devices/meter-7/credentials')).body.items.filter((i: { kind: string }) => i.kind === 'certificate')).toHaveLength(2);
  });
});
