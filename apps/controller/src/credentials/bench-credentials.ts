// SPDX-License-Identifier: Apache-2.0
/**
 * Numbers for `npm run bench` (issue 7): certificates issued per second with the
 * CA key in a KEK-sealed file and in a SoftHSM2 token, the time from a revoke
 * (REST, real controller) to the CRL served with the serial in it, and the size
 * and build time of a CRL listing 100,000 revoked devices.
 *
 * Run on its own: npx tsx apps/controller/src/credentials/bench-credentials.ts
 * SoftHSM2 reads SOFTHSM2_CONF when the library loads; the token bench sets it
 * for a temporary token before the first load in this process, and reports null
 * when softhsm2-util or the module is missing.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CaKey } from '../keys/ca-key';
import { FileCaKey } from '../keys/file-key';
import { Pkcs11CaKey } from '../keys/pkcs11-key';
import { startController } from '../main';
import { CREDENTIAL_ENV } from './credentials.config';
import { CrlBuilder, REASON } from './crl';
import { DeviceCa, deviceUris, randomSerial } from './device-ca';

export interface CredentialsBench {
  certsPerSecondFile: number;
  /** null when SoftHSM2 is not installed. */
  certsPerSecondPkcs11: number | null;
  /** Median over a few revocations: POST revoke → GET /v1/ca/crl lists the serial. */
  revokeToCrlMs: number;
  crl100kBytes: number;
  crl100kGenMs: number;
  /** Rebuilding that CRL after one more revocation (entries already serialised). */
  crl100kRegenMs: number;
}

const SOFTHSM = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => fs.existsSync(p));

async function certsPerSecond(key: CaKey, dir: string, seconds: number): Promise<number> {
  const ca = await DeviceCa.open(dir, key);
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  // What a CSR gives: the device's public key. Issuing is what is measured.
  const publicKey = new x509.PublicKey(await webcrypto.subtle.exportKey('spki', pair.publicKey));
  const notAfter = new Date(Date.now() + 30 * 86400_000);
  for (let i = 0; i < 20; i++) await ca.issue({ commonName: `warm-${i}`, publicKey, notAfter, uris: deviceUris(`warm-${i}`, { type: 'sensor' }) });
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < until) {
    await ca.issue({ commonName: `dev-${n}`, publicKey, notAfter, uris: deviceUris(`dev-${n}`, { type: 'sensor' }) });
    n++;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return Math.round((n / secs) * 10) / 10;
}

function kekIn(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = path.join(dir, 'kek');
  fs.writeFileSync(f, randomBytes(32), { mode: 0o600 });
  return f;
}

async function pkcs11Rate(tmp: string, seconds: number): Promise<number | null> {
  if (!SOFTHSM) return null;
  const hsm = path.join(tmp, 'hsm');
  fs.mkdirSync(path.join(hsm, 'tokens'), { recursive: true });
  const conf = path.join(hsm, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${path.join(hsm, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const saved = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  try {
    try {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '1234', '--pin', '5678'], { stdio: 'ignore', env: process.env });
    } catch {
      return null;
    }
    const key = await Pkcs11CaKey.open({ module: SOFTHSM, token: 'bench', pin: '5678' });
    try {
      return await certsPerSecond(key, path.join(tmp, 'pkcs11-ca'), seconds);
    } finally {
      await key.close();
    }
  } finally {
    if (saved === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = saved;
  }
}

async function revokeToCrl(tmp: string, rounds: number): Promise<number> {
  const dataDir = path.join(tmp, 'controller');
  const saved = { kek: process.env[CREDENTIAL_ENV.kekFile], est: process.env[CREDENTIAL_ENV.est] };
  process.env[CREDENTIAL_ENV.kekFile] = kekIn(path.join(tmp, 'controller-secrets'));
  process.env[CREDENTIAL_ENV.est] = 'off';
  const stderr = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  let ctl;
  try {
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'error' });
  } finally {
    process.stderr.write = stderr;
    for (const [k, v] of [[CREDENTIAL_ENV.kekFile, saved.kek], [CREDENTIAL_ENV.est, saved.est]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  try {
    const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
    const call = (method: string, p: string, body?: unknown) =>
      fetch(ctl.url + p, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const devices = Array.from({ length: rounds }, (_, i) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: `bench-${i}` }, spec: { addresses: [`10.99.${i >> 8}.${(i & 255) + 1}`] } }));
    const applied = await call('POST', '/v1/apply', { documents: devices });
    if (!applied.ok) throw new Error(`bench apply failed: ${await applied.text()}`);
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const issued = (await (await call('POST', `/v1/devices/bench-${i}/credentials`, { kind: 'certificate' })).json()) as { id: string };
      const serial = Buffer.from(issued.id, 'hex');
      const t0 = performance.now();
      await call('POST', `/v1/devices/bench-${i}/credentials/revoke`, {});
      for (;;) {
        const der = Buffer.from(await (await fetch(`${ctl.url}/v1/ca/crl`)).arrayBuffer());
        if (der.includes(serial)) break;
        if (performance.now() - t0 > 10_000) throw new Error('the CRL did not list a revoked serial within 10 s');
      }
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return Math.round(times[Math.floor(times.length / 2)] * 10) / 10;
  } finally {
    await ctl.close();
  }
}

async function crlAtScale(tmp: string, entries: number): Promise<{ bytes: number; ms: number; regenMs: number }> {
  const key = await FileCaKey.open({ keyFile: path.join(tmp, 'crl-ca', 'ca.key.sealed'), kekFile: kekIn(path.join(tmp, 'crl-secrets')) });
  const ca = await DeviceCa.open(path.join(tmp, 'crl-ca'), key);
  const now = Date.now();
  const list = Array.from({ length: entries }, (_, i) => ({ serial: randomSerial(), revokedAt: new Date(now - i * 1000), reason: i % 3 === 0 ? REASON.superseded : undefined }));
  const builder = new CrlBuilder(ca);
  const t0 = performance.now();
  const der = await builder.build(list, { number: 1, nextUpdate: new Date(now + 86400_000) });
  const ms = performance.now() - t0;
  list.push({ serial: randomSerial(), revokedAt: new Date(), reason: undefined });
  const t1 = performance.now();
  await builder.build(list, { number: 2, nextUpdate: new Date(now + 86400_000) });
  const regenMs = performance.now() - t1;
  return { bytes: der.length, ms: Math.round(ms), regenMs: Math.round(regenMs) };
}

export async function benchCredentials(opts: { seconds?: number; revokeRounds?: number; crlEntries?: number } = {}): Promise<CredentialsBench> {
  const seconds = opts.seconds ?? 2;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-cred-'));
  try {
    const fileKey = await FileCaKey.open({ keyFile: path.join(tmp, 'file-ca', 'ca.key.sealed'), kekFile: kekIn(path.join(tmp, 'file-secrets')) });
    const certsPerSecondFile = await certsPerSecond(fileKey, path.join(tmp, 'file-ca'), seconds);
    const certsPerSecondPkcs11 = await pkcs11Rate(tmp, seconds);
    const revokeToCrlMs = await revokeToCrl(tmp, opts.revokeRounds ?? 5);
    const crl = await crlAtScale(tmp, opts.crlEntries ?? 100_000);
    return { certsPerSecondFile, certsPerSecondPkcs11, revokeToCrlMs, crl100kBytes: crl.bytes, crl100kGenMs: crl.ms, crl100kRegenMs: crl.regenMs };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchCredentials()
    .then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'))
    .catch((err) => {
      process.stderr.write(`bench-credentials: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    });
}
