/**
 * Device credentials against a real Mosquitto on loopback: a device with a
 * Cordon certificate connects over TLS; after revoke the broker, reading the
 * CRL the controller republished, refuses it; a certificate re-enrolled over EST
 * (curl --cert/--key) keeps the device connecting across rotation; a PSK device
 * connects, is rotated without a gap and is refused once revoked.
 *
 * Mosquitto 2.0 reads crlfile and psk_file when a listener starts, and again on
 * SIGHUP (it reloads its TLS contexts and the PSK file), so the tests refresh the
 * file and send SIGHUP — no restart, no dropped sessions of other devices.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { device, makeKek, publishWithCert, publishWithPsk, run, startBroker, startCaController, tmpDir, waitFor, type Broker, type CaController } from './helpers';

jest.setTimeout(120_000);

describe('device credentials with a real Mosquitto', () => {
  let t: CaController;
  let broker: Broker;
  let work: string;

  const refreshCrl = async () => {
    const r = await t.call('GET', '/v1/ca/crl?format=pem');
    expect(r.status).toBe(200);
    fs.writeFileSync(broker.crlFile + '.tmp', r.raw);
    fs.renameSync(broker.crlFile + '.tmp', broker.crlFile);
    broker.reload();
  };

  beforeAll(async () => {
    work = tmpDir('cordon-cred-work-');
    t = await startCaController({ kekFile: makeKek(path.join(work, 'secrets')) });
    const applied = await t.call('POST', '/v1/apply', { documents: [device('cam-07', { type: 'camera' }), device('sensor-3', { type: 'sensor' }, '10.10.1.8'), device('cam-08', { type: 'camera' }, '10.10.1.9')] });
    expect(applied.status).toBe(200);
    const ca = await t.call('GET', '/v1/ca/cert');
    const crl = await t.call('GET', '/v1/ca/crl?format=pem');
    broker = await startBroker({ deviceCa: ca.body, crl: crl.raw, pskFile: t.pskFile });
  });

  afterAll(async () => {
    await broker?.stop();
    await t?.close();
    for (const d of [work, t?.dataDir, broker?.dir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('connects with a Cordon certificate, is refused within seconds of revoke', async () => {
    const r = await t.call('POST', '/v1/devices/cam-07/credentials', { kind: 'certificate' });
    expect(r.status).toBe(201);
    expect(r.body.privateKey).toMatch(/BEGIN PRIVATE KEY/);
    const cert = path.join(work, 'cam-07.crt');
    const key = path.join(work, 'cam-07.key');
    fs.writeFileSync(cert, r.body.certificate);
    fs.writeFileSync(key, r.body.privateKey, { mode: 0o600 });
    // The certificate names the device and its labels.
    const text = await run('openssl', ['x509', '-in', cert, '-noout', '-subject', '-ext', 'subjectAltName,extendedKeyUsage']);
    expect(text.stdout).toMatch(/CN\s*=\s*cam-07/);
    expect(text.stdout).toContain('URI:urn:cordon:device:cam-07');
    expect(text.stdout).toContain('URI:urn:cordon:label:type=camera');
    expect(text.stdout).toContain('TLS Web Client Authentication');

    const ok = await publishWithCert(broker, cert, key, 'cam-07');
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });

    const started = Date.now();
    const rev = await t.call('POST', '/v1/devices/cam-07/credentials/revoke', { reason: 'keyCompromise' });
    expect(rev.body.revoked).toEqual([r.body.id]);
    // Until the broker re-reads the CRL it still accepts the device: the CRL is what refuses it.
    expect((await publishWithCert(broker, cert, key, 'cam-07')).code).toBe(0);
    await refreshCrl();
    await waitFor('the broker to refuse the revoked certificate', async () => (await publishWithCert(broker, cert, key, 'cam-07')).code !== 0, 10_000, 200);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(broker.log()).toMatch(/certificate verify failed/);

    // The CRL served names the serial and verifies against the CA.
    fs.writeFileSync(path.join(work, 'crl.der'), (await t.call('GET', '/v1/ca/crl')).raw);
    fs.writeFileSync(path.join(work, 'ca.pem'), (await t.call('GET', '/v1/ca/cert')).body);
    const crlText = await run('openssl', ['crl', '-inform', 'DER', '-in', path.join(work, 'crl.der'), '-CAfile', path.join(work, 'ca.pem'), '-noout', '-text']);
    expect(crlText.stderr + crlText.stdout).toContain('verify OK');
    expect(crlText.stdout.toLowerCase()).toContain(r.body.id.toLowerCase());
    expect(crlText.stdout).toContain('Key Compromise');
    const verify = await run('openssl', ['verify', '-crl_check', '-CAfile', path.join(work, 'ca.pem'), '-CRLfile', broker.crlFile, cert]);
    expect(verify.stdout + verify.stderr).toContain('certificate revoked');

    const st = await t.call('GET', '/v1/devices/cam-07/credentials');
    expect(st.body.status).toBe('revoked');
  });

  it('keeps connecting across rotation by EST re-enrollment (curl --cert/--key)', async () => {
    // First certificate from a CSR made by openssl: the key never leaves the "device".
    const key = path.join(work, 'sensor-3.key');
    const csr = path.join(work, 'sensor-3.csr');
    const gen = await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=sensor-3']);
    expect(gen.code).toBe(0);
    const first = await t.call('POST', '/v1/devices/sensor-3/credentials', { kind: 'certificate', csr: fs.readFileSync(csr, 'utf8') });
    expect(first.status).toBe(201);
    expect(first.body.privateKey).toBeUndefined();
    const cert1 = path.join(work, 'sensor-3.1.crt');
    fs.writeFileSync(cert1, first.body.certificate);
    expect((await publishWithCert(broker, cert1, key, 'sensor-3')).code).toBe(0);

    // Re-enroll: a new key and CSR, authenticated by the current certificate.
    const key2 = path.join(work, 'sensor-3.2.key');
    const csr2 = path.join(work, 'sensor-3.2.der');
    expect((await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key2, '-outform', 'DER', '-out', csr2, '-subj', '/CN=sensor-3'])).code).toBe(0);
    fs.writeFileSync(csr2 + '.b64', fs.readFileSync(csr2).toString('base64'));
    const caFile = path.join(work, 'ca.pem');
    fs.writeFileSync(caFile, (await t.call('GET', '/v1/ca/cert')).body);
    const p7 = path.join(work, 'sensor-3.2.p7');
    const curl = await run('curl', ['-sS', '--fail-with-body', '--max-time', '10', '--cacert', caFile, '--cert', cert1, '--key', key, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr2}.b64`, '-o', p7, `https://127.0.0.1:${t.estPort}/.well-known/est/simplereenroll`]);
    expect({ code: curl.code, stderr: curl.stderr }).toEqual({ code: 0, stderr: '' });
    const cert2 = path.join(work, 'sensor-3.2.crt');
    fs.writeFileSync(p7 + '.der', Buffer.from(fs.readFileSync(p7, 'utf8'), 'base64'));
    const conv = await run('openssl', ['pkcs7', '-inform', 'DER', '-in', p7 + '.der', '-print_certs', '-out', cert2]);
    expect(conv.code).toBe(0);
    expect((await run('openssl', ['verify', '-CAfile', caFile, cert2])).stdout).toContain('OK');

    // During the overlap both work; the device moves to the new one without a gap.
    expect((await publishWithCert(broker, cert2, key2, 'sensor-3')).code).toBe(0);
    expect((await publishWithCert(broker, cert1, key, 'sensor-3')).code).toBe(0);
    const st = await t.call('GET', '/v1/devices/sensor-3/credentials');
    expect(st.body.status).toBe('valid');
    const old = st.body.items.find((i: { id: string }) => i.id === first.body.id);
    expect(old.retireAt).toBeTruthy();

    // Without a certificate, re-enroll is refused.
    const anon = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--cacert', caFile, '--data-binary', `@${csr2}.b64`, `https://127.0.0.1:${t.estPort}/.well-known/est/simplereenroll`]);
    expect(anon.stdout).toBe('401');

    // Revoking the old one (its overlap cut short) leaves the new one working.
    await t.call('POST', '/v1/devices/sensor-3/credentials/revoke', { id: first.body.id, reason: 'superseded' });
    await refreshCrl();
    await waitFor('the old certificate to be refused', async () => (await publishWithCert(broker, cert1, key, 'sensor-3')).code !== 0, 10_000, 200);
    expect((await publishWithCert(broker, cert2, key2, 'sensor-3')).code).toBe(0);
    // The revoked certificate can no longer re-enroll either.
    const again = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--cacert', caFile, '--cert', cert1, '--key', key, '--data-binary', `@${csr2}.b64`, `https://127.0.0.1:${t.estPort}/.well-known/est/simplereenroll`]);
    expect(again.stdout).toBe('401');
  });

  it('a PSK device connects, rotates without a gap, and is refused after revoke', async () => {
    const first = await t.call('POST', '/v1/devices/cam-08/credentials', { kind: 'psk' });
    expect(first.status).toBe(201);
    expect(first.body.psk).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.readFileSync(t.pskFile, 'utf8')).toContain(`${first.body.identity}:${first.body.psk}`);
    expect((fs.statSync(t.pskFile).mode & 0o777).toString(8)).toBe('600');
    broker.reload();
    await waitFor('the PSK device to connect', async () => (await publishWithPsk(broker, first.body.identity, first.body.psk)).code === 0, 10_000, 200);

    // A second issue is refused: rotate instead.
    expect((await t.call('POST', '/v1/devices/cam-08/credentials', { kind: 'psk' })).status).toBe(409);

    const second = await t.call('POST', '/v1/devices/cam-08/credentials/rotate', { kind: 'psk', overlap: '4s' });
    expect(second.status).toBe(201);
    expect(second.body.identity).not.toBe(first.body.identity);
    broker.reload();
    // Both keys work within the overlap: the device can switch at any moment.
    await waitFor('the new PSK to connect', async () => (await publishWithPsk(broker, second.body.identity, second.body.psk)).code === 0, 10_000, 200);
    expect((await publishWithPsk(broker, first.body.identity, first.body.psk)).code).toBe(0);

    // When the overlap ends the controller rewrites the file without the old key.
    await waitFor('the old PSK to leave the file', async () => !fs.readFileSync(t.pskFile, 'utf8').includes(first.body.identity), 10_000, 200);
    broker.reload();
    await waitFor('the old PSK to be refused', async () => (await publishWithPsk(broker, first.body.identity, first.body.psk)).code !== 0, 10_000, 200);
    expect((await publishWithPsk(broker, second.body.identity, second.body.psk)).code).toBe(0);

    // Revoke: the file is rewritten at once, and the device is refused.
    const rev = await t.call('POST', '/v1/devices/cam-08/credentials/revoke', { kind: 'psk' });
    expect(rev.body.revoked).toEqual([second.body.identity]);
    expect(fs.readFileSync(t.pskFile, 'utf8')).not.toContain(second.body.psk);
    broker.reload();
    await waitFor('the revoked PSK to be refused', async () => (await publishWithPsk(broker, second.body.identity, second.body.psk)).code !== 0, 10_000, 200);

    // Every step is in the audit log.
    const audit = await t.call('GET', '/v1/audit?limit=500');
    const actions = audit.body.items.filter((e: { target: string }) => e.target === 'Device/cam-08').map((e: { action: string }) => e.action);
    expect(actions).toEqual(['credential.issue', 'credential.rotate', 'credential.retire', 'credential.revoke']);
    // No secret in the log.
    expect(JSON.stringify(audit.body)).not.toContain(first.body.psk);
    expect(JSON.stringify(audit.body)).not.toContain(second.body.psk);
  });
});
