/**
 * EST simpleenroll with curl and an openssl CSR (HTTP Basic with a one-time
 * device token), /cacerts as certs-only PKCS#7, the `cordon credential` CLI, and
 * deleting a Device revoking all it holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { device, makeKek, run, startCaController, tmpDir, waitFor, type CaController } from './helpers';

jest.setTimeout(120_000);

describe('EST enrollment, the credential CLI, and device deletion', () => {
  let t: CaController;
  let work: string;
  let caFile: string;
  const est = (op: string) => `https://127.0.0.1:${t.estPort}/.well-known/est/${op}`;
  const cli = (...args: string[]) => runCli([...args, '--server', t.url, '--token', t.token], { env: {} });

  beforeAll(async () => {
    work = tmpDir('cordon-est-');
    t = await startCaController({ kekFile: makeKek(path.join(work, 'secrets')) });
    expect((await t.call('POST', '/v1/apply', { documents: [device('meter-1', { type: 'meter', site: 'north' }, '10.10.1.21'), device('meter-2', {}, '10.10.1.22'), device('cam-9', {}, '10.10.1.23')] })).status).toBe(200);
    caFile = path.join(work, 'ca.pem');
    fs.writeFileSync(caFile, (await t.call('GET', '/v1/ca/cert')).body);
  });
  afterAll(async () => {
    await t?.close();
    for (const d of [work, t?.dataDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('serves /cacerts as base64 certs-only PKCS#7 holding the CA certificate', async () => {
    const out = path.join(work, 'cacerts.b64');
    const r = await run('curl', ['-sS', '--fail', '--max-time', '10', '--cacert', caFile, '-D', path.join(work, 'h.txt'), '-o', out, est('cacerts')]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(work, 'h.txt'), 'utf8')).toMatch(/content-type: application\/pkcs7-mime; smime-type=certs-only/i);
    fs.writeFileSync(out + '.der', Buffer.from(fs.readFileSync(out, 'utf8'), 'base64'));
    const p = await run('openssl', ['pkcs7', '-inform', 'DER', '-in', out + '.der', '-print_certs']);
    expect(p.code).toBe(0);
    expect(p.stdout.replace(/^(subject|issuer)=.*\n/gm, '').trim()).toBe(fs.readFileSync(caFile, 'utf8').trim());
  });

  it('enrolls with curl, an openssl CSR and a one-time token; the token works once and for its device only', async () => {
    const tok = await cli('credential', 'enroll-token', 'meter-1', '--ttl', '10m', '-o', 'json');
    expect(tok.code).toBe(0);
    const { token, username } = JSON.parse(tok.stdout);
    expect(username).toBe('meter-1');

    const key = path.join(work, 'meter-1.key');
    const csr = path.join(work, 'meter-1.csr');
    expect((await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-outform', 'DER', '-out', csr, '-subj', '/CN=meter-1'])).code).toBe(0);
    fs.writeFileSync(csr + '.b64', fs.readFileSync(csr).toString('base64'));
    const enroll = (user: string, pass: string, out: string) =>
      run('curl', ['-sS', '-o', out, '-w', '%{http_code}', '--max-time', '10', '--cacert', caFile, '--user', `${user}:${pass}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}.b64`, est('simpleenroll')]);

    // Someone else's device name with this token: refused (and the token is not spent).
    expect((await enroll('meter-2', token, path.join(work, 'x'))).stdout).toBe('401');
    const p7 = path.join(work, 'meter-1.p7');
    expect((await enroll('meter-1', token, p7)).stdout).toBe('200');
    fs.writeFileSync(p7 + '.der', Buffer.from(fs.readFileSync(p7, 'utf8'), 'base64'));
    const cert = path.join(work, 'meter-1.crt');
    expect((await run('openssl', ['pkcs7', '-inform', 'DER', '-in', p7 + '.der', '-print_certs', '-out', cert])).code).toBe(0);
    expect((await run('openssl', ['verify', '-CAfile', caFile, cert])).stdout).toContain('OK');
    const text = await run('openssl', ['x509', '-in', cert, '-noout', '-subject', '-ext', 'subjectAltName']);
    expect(text.stdout).toMatch(/CN\s*=\s*meter-1/);
    expect(text.stdout).toContain('URI:urn:cordon:label:site=north');
    // The certificate holds the CSR's key: the key never left the device.
    const pub1 = await run('openssl', ['x509', '-in', cert, '-noout', '-pubkey']);
    const pub2 = await run('openssl', ['pkey', '-in', key, '-pubout']);
    expect(pub1.stdout).toBe(pub2.stdout);

    // The token was one-time.
    expect((await enroll('meter-1', token, path.join(work, 'y'))).stdout).toBe('401');
    // A CSR not signed by its key is refused.
    const bad = Buffer.from(fs.readFileSync(csr));
    bad[bad.length - 5] ^= 0xff;
    fs.writeFileSync(csr + '.b64', bad.toString('base64'));
    const tok2 = JSON.parse((await cli('credential', 'enroll-token', 'meter-1', '-o', 'json')).stdout).token;
    expect((await enroll('meter-1', tok2, path.join(work, 'z'))).stdout).toBe('400');

    const st = await cli('credential', 'status', 'meter-1', '-o', 'json');
    expect(JSON.parse(st.stdout)).toMatchObject({ device: 'meter-1', status: 'valid', items: [{ kind: 'certificate', status: 'valid' }] });
    const audit = (await t.call('GET', '/v1/audit?limit=500')).body.items.filter((e: { target: string; action: string }) => e.target === 'Device/meter-1' && e.action === 'credential.issue');
    expect(audit[0].diff).toMatchObject({ kind: 'certificate', keyFrom: 'csr', via: 'est-simpleenroll' });
    expect(audit[0].actor).toBe('est:meter-1');
  });

  it('cordon credential issue|rotate|revoke, with --psk, and the lifetime label', async () => {
    // Lifetime from the Device label.
    await t.call('POST', '/v1/apply', { documents: [device('meter-2', { 'cordon.dev/credential-lifetime': '7d' }, '10.10.1.22')] });
    const keyOut = path.join(work, 'meter-2.key');
    const certOut = path.join(work, 'meter-2.crt');
    const issued = await cli('credential', 'issue', 'meter-2', '--key-out', keyOut, '--cert-out', certOut, '-o', 'json');
    expect(issued.code).toBe(0);
    const body = JSON.parse(issued.stdout);
    expect(body.privateKey).toBe(`(written to ${keyOut})`);
    expect((fs.statSync(keyOut).mode & 0o777).toString(8)).toBe('600');
    const days = (Date.parse(body.notAfter) - Date.now()) / 86400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);

    const psk = await cli('credential', 'issue', 'meter-2', '--psk');
    expect(psk.code).toBe(0);
    expect(psk.stdout).toMatch(/psk: +[0-9a-f]{64} +\(shown once/);
    const rot = await cli('credential', 'rotate', 'meter-2', '--overlap', '0s', '-o', 'json');
    expect(rot.code).toBe(0);
    expect(JSON.parse(rot.stdout).retiring.ids).toEqual([body.id]);
    // With no overlap the old certificate is revoked at once and in the CRL.
    fs.writeFileSync(path.join(work, 'crl.der'), (await t.call('GET', '/v1/ca/crl')).raw);
    const crl = await run('openssl', ['crl', '-inform', 'DER', '-in', path.join(work, 'crl.der'), '-noout', '-text']);
    expect(crl.stdout.toLowerCase()).toContain(body.id);
    expect(crl.stdout).toContain('Superseded');

    const rev = await cli('credential', 'revoke', 'meter-2', '--psk');
    expect(rev.code).toBe(0);
    expect(rev.stdout).toMatch(/revoked 1 credential\(s\) of meter-2: meter-2\./);
    const st = JSON.parse((await cli('credential', 'status', 'meter-2', '-o', 'json')).stdout);
    expect(st.status).toBe('valid'); // the rotated certificate
    expect(st.items.map((i: { kind: string; status: string }) => `${i.kind}:${i.status}`)).toEqual(['certificate:revoked', 'psk:revoked', 'certificate:valid']);

    // Lifetime from a Segment the device is in (here by CIDR).
    const seg = { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'meters', labels: { 'cordon.dev/credential-lifetime': '2d' } }, spec: { cidrs: ['10.20.0.0/24'] } };
    expect((await t.call('POST', '/v1/apply', { documents: [seg, device('meter-3', {}, '10.20.0.5')] })).status).toBe(200);
    const m3 = await t.call('POST', '/v1/devices/meter-3/credentials', { kind: 'certificate' });
    expect((Date.parse(m3.body.notAfter) - Date.now()) / 86400_000).toBeCloseTo(2, 1);

    // Errors name the thing and the next step.
    const missing = await cli('credential', 'issue', 'nope');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/Device "nope" does not exist/);
  });

  it('deleting a Device revokes everything it holds', async () => {
    const cert = await t.call('POST', '/v1/devices/cam-9/credentials', { kind: 'certificate' });
    const psk = await t.call('POST', '/v1/devices/cam-9/credentials', { kind: 'psk' });
    expect(fs.readFileSync(t.pskFile, 'utf8')).toContain(psk.body.identity);
    const del = await t.call('DELETE', '/v1/devices/cam-9');
    expect(del.status).toBe(200);
    const st = await waitFor('the credentials to be revoked', async () => {
      const r = await t.call('GET', '/v1/devices/cam-9/credentials');
      return r.body.status === 'revoked' ? r.body : null;
    }, 5000, 50);
    expect(st.items.every((i: { revokeReason: string }) => i.revokeReason === 'cessationOfOperation')).toBe(true);
    expect(fs.readFileSync(t.pskFile, 'utf8')).not.toContain(psk.body.identity);
    fs.writeFileSync(path.join(work, 'crl2.der'), (await t.call('GET', '/v1/ca/crl')).raw);
    const crl = await run('openssl', ['crl', '-inform', 'DER', '-in', path.join(work, 'crl2.der'), '-noout', '-text']);
    expect(crl.stdout.toLowerCase()).toContain(cert.body.id);
    const audit = (await t.call('GET', '/v1/audit?limit=500')).body.items.filter((e: { target: string; action: string }) => e.target === 'Device/cam-9' && e.action === 'credential.revoke');
    expect(audit[0]).toMatchObject({ actor: 'controller', diff: { cause: 'Device deleted', reason: 'cessationOfOperation' } });
  });
});
