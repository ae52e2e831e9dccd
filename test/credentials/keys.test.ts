/**
 * The device CA key at rest: in a SoftHSM2 token (initialised here, in a temp
 * dir) it signs, and cannot be read out; in a file it is sealed with a KEK, the
 * file does not hold it in clear, and a wrong KEK fails with a clear error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import { X509Certificate } from '@peculiar/x509';
import { readKek, unseal } from '../../apps/controller/src/keys/kek';
import { controllerFails, device, initSoftHsm, makeKek, run, spawnController, startCaController, tmpDir, type CaController, type SoftHsm } from './helpers';

jest.setTimeout(120_000);

let nextHost = 10;
async function issueAndVerify(t: Pick<CaController, 'call'>, work: string, name: string) {
  const applied = await t.call('POST', '/v1/apply', { documents: [device(name, {}, `10.10.1.${nextHost++}`)] });
  expect(applied.body).toMatchObject({ changed: true });
  const r = await t.call('POST', `/v1/devices/${name}/credentials`, { kind: 'certificate' });
  expect(r.status).toBe(201);
  const ca = path.join(work, 'ca.pem');
  const cert = path.join(work, `${name}.crt`);
  fs.writeFileSync(ca, (await t.call('GET', '/v1/ca/cert')).body);
  fs.writeFileSync(cert, r.body.certificate);
  const v = await run('openssl', ['verify', '-CAfile', ca, cert]);
  expect(v.stdout).toContain(': OK');
  // The CRL is signed by the same key.
  fs.writeFileSync(path.join(work, 'crl.pem'), (await t.call('GET', '/v1/ca/crl?format=pem')).raw);
  const crl = await run('openssl', ['crl', '-in', path.join(work, 'crl.pem'), '-CAfile', ca, '-noout']);
  expect(crl.stderr + crl.stdout).toContain('verify OK');
  return r.body;
}

describe('device CA key in a SoftHSM2 token (controller as a process)', () => {
  let hsm: SoftHsm;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let flags: string[];

  beforeAll(async () => {
    work = tmpDir('cordon-hsm-');
    hsm = await initSoftHsm(path.join(work, 'hsm'));
    env = { SOFTHSM2_CONF: hsm.conf };
    flags = ['--pkcs11-module', hsm.module, '--pkcs11-token', hsm.token, '--pkcs11-pin-file', hsm.pinFile];
  });
  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('signs certificates and CRLs in the token, and the key cannot be exported', async () => {
    const t = await spawnController(flags, env);
    let caPem: string;
    try {
      await issueAndVerify(t, work, 'hsm-dev');
      caPem = (await t.call('GET', '/v1/ca/cert')).body;
      // No key file beside the data.
      expect(fs.existsSync(path.join(t.dataDir, 'device-ca', 'ca.key.sealed'))).toBe(false);
      // The PIN is not in the controller's output.
      expect(t.stderr()).not.toContain(hsm.pin);

      // C_GetAttributeValue on the private key: CKA_EXTRACTABLE false, CKA_SENSITIVE true; CKA_VALUE refused.
      const [cmd, args] = [process.execPath, ['--import', 'tsx', path.join(__dirname, 'support/pkcs11-inspect.ts'), hsm.module, hsm.token, hsm.pin]];
      const inspect = await run(cmd, args, { env: { ...process.env, ...env }, timeoutMs: 30_000 });
      expect(inspect.stderr).toBe('');
      const info = JSON.parse(inspect.stdout);
      expect(info).toMatchObject({ created: false, extractable: false, sensitive: true, verifies: true });
      expect(info.exportError).toMatch(/CKR_ATTRIBUTE_SENSITIVE/);
      // The CA certificate carries the token's public key.
      expect(Buffer.from(new X509Certificate(caPem).publicKey.rawData).toString('base64')).toBe(info.spki);
    } finally {
      await t.stop();
    }

    // An outside tool agrees: OpenSC's pkcs11-tool sees a never-extractable key and cannot read it out.
    const penv = { ...process.env, ...env };
    const base = ['--module', hsm.module, '--token-label', hsm.token, '--login', '--pin', hsm.pin];
    const list = await run('pkcs11-tool', [...base, '--list-objects', '--type', 'privkey'], { env: penv });
    expect(list.stdout).toContain('cordon-device-ca');
    expect(list.stdout).toMatch(/never extractable/);
    const stolen = path.join(work, 'stolen.der');
    const exp = await run('pkcs11-tool', [...base, '--read-object', '--type', 'privkey', '--label', 'cordon-device-ca', '-o', stolen], { env: penv });
    // (pkcs11-tool declines to read private keys at all; nothing is written either way.)
    expect(exp.stdout + exp.stderr).not.toMatch(/BEGIN|PRIVATE KEY/);
    expect(fs.existsSync(stolen) && fs.statSync(stolen).size > 0).toBe(false);

    // A restart finds the same key in the token: same CA, nothing regenerated.
    const t2 = await spawnController(flags, env, t.dataDir);
    try {
      expect((await t2.call('GET', '/v1/ca/cert')).body).toBe(caPem);
      await issueAndVerify(t2, work, 'hsm-dev-2');
    } finally {
      await t2.stop();
    }
  });

  it('refuses a wrong PIN or an unknown token with a clear error', async () => {
    const badPin = path.join(work, 'bad-pin');
    fs.writeFileSync(badPin, '000000\n', { mode: 0o600 });
    const r = await controllerFails(['--pkcs11-module', hsm.module, '--pkcs11-token', hsm.token, '--pkcs11-pin-file', badPin], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot log in to PKCS#11 token "cordon-test".*PIN/);
    expect(r.stderr).not.toContain('000000');
    const r2 = await controllerFails(['--pkcs11-module', hsm.module, '--pkcs11-token', 'no-such-token', '--pkcs11-pin-file', hsm.pinFile], env);
    expect(r2.stderr).toMatch(/no PKCS#11 token labelled "no-such-token"/);
  });
});

describe('device CA key in a KEK-sealed file', () => {
  let work: string;
  beforeAll(() => {
    work = tmpDir('cordon-kek-');
  });
  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('keeps no key in clear on disk, and a wrong or missing KEK fails clearly', async () => {
    const kekFile = makeKek(path.join(work, 'secrets'));
    const t = await startCaController({ kekFile });
    const dataDir = t.dataDir;
    try {
      await issueAndVerify(t, work, 'file-dev');
    } finally {
      await t.close();
    }
    const sealedFile = path.join(dataDir, 'device-ca', 'ca.key.sealed');
    expect((fs.statSync(sealedFile).mode & 0o777).toString(8)).toBe('600');
    const onDisk = fs.readFileSync(sealedFile);
    // Open it the way the controller does, and look for the key in every spelling.
    const pkcs8 = unseal(readKek(kekFile), JSON.parse(onDisk.toString('utf8')), sealedFile);
    const imported = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const d = (await webcrypto.subtle.exportKey('jwk', imported)).d!;
    const dRaw = Buffer.from(d, 'base64url');
    for (const needle of [pkcs8, Buffer.from(pkcs8.toString('base64')), dRaw, Buffer.from(dRaw.toString('hex')), Buffer.from(d), Buffer.from(dRaw.toString('base64'))]) {
      expect(onDisk.includes(needle)).toBe(false);
    }
    expect(onDisk.toString()).not.toMatch(/PRIVATE KEY/);
    // Nor in anything else under the data dir.
    for (const f of fs.readdirSync(path.join(dataDir, 'device-ca'))) expect(fs.readFileSync(path.join(dataDir, 'device-ca', f)).includes(dRaw)).toBe(false);

    // The right KEK opens it again.
    const again = await startCaController({ kekFile, dataDir });
    await again.close();

    // A wrong KEK: a clear error, and the controller does not start.
    const wrong = makeKek(path.join(work, 'other'));
    await expect(startCaController({ kekFile: wrong, dataDir })).rejects.toThrow(/sealed with another key-encryption key .*pass the --kek-file it was created with/);
    // A damaged file with the right KEK.
    const env = JSON.parse(onDisk.toString('utf8'));
    const data = Buffer.from(env.data, 'base64');
    data[3] ^= 0xff;
    fs.writeFileSync(sealedFile, JSON.stringify({ ...env, data: data.toString('base64') }), { mode: 0o600 });
    await expect(startCaController({ kekFile, dataDir })).rejects.toThrow(/cannot be decrypted .*altered or damaged/);
    fs.writeFileSync(sealedFile, onDisk, { mode: 0o600 });
    // A KEK others can read is refused.
    const loose = path.join(work, 'loose-kek');
    fs.copyFileSync(kekFile, loose);
    fs.chmodSync(loose, 0o644);
    await expect(startCaController({ kekFile: loose, dataDir })).rejects.toThrow(/readable by others/);
  });

  it('without a KEK or a token the device CA stays off and says what to configure', async () => {
    const t = await startCaController({});
    try {
      const r = await t.call('GET', '/v1/ca/cert');
      expect(r.status).toBe(503);
      expect(r.body.detail).toMatch(/--kek-file/);
      expect(r.body.detail).toMatch(/--pkcs11-module/);
      expect((await t.call('POST', '/v1/devices/x/credentials', { kind: 'certificate' })).status).toBe(503);
      expect(fs.existsSync(path.join(t.dataDir, 'device-ca'))).toBe(false);
    } finally {
      await t.close();
    }
  });
});
