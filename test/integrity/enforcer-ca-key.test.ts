/**
 * Hole 13: the enforcer CA key is kept like the device CA key. With --kek-file it
 * is sealed on disk (never a PEM private key), a controller restarted with the
 * KEK still serves the enforcers it enrolled, and `cordon controller ca seal`
 * migrates a plain key left from before. Real controllers, real mTLS calls.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import { runCli } from '../../apps/cli/src/cli';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { CREDENTIAL_ENV } from '../../apps/controller/src/credentials/credentials.config';
import { rpc } from '../../proto/cordon/v1/client';
import { enrollEnforcer, type Enrolled } from './enroll';

jest.setTimeout(120_000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-ca-key-'));
const kekDir = path.join(work, 'secrets');
fs.mkdirSync(kekDir, { mode: 0o700 });
const kekFile = path.join(kekDir, 'kek');
fs.writeFileSync(kekFile, randomBytes(32), { mode: 0o600 });

/** A controller on dataDir, with or without the KEK (the device CA's EST server off). */
async function start(dataDir: string, kek: boolean): Promise<RunningController> {
  const saved = { kek: process.env[CREDENTIAL_ENV.kekFile], est: process.env[CREDENTIAL_ENV.est] };
  process.env[CREDENTIAL_ENV.est] = 'off';
  if (kek) process.env[CREDENTIAL_ENV.kekFile] = kekFile;
  else delete process.env[CREDENTIAL_ENV.kekFile];
  const quiet = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'silent' });
  } finally {
    process.stderr.write = quiet;
    for (const [k, v] of [[CREDENTIAL_ENV.kekFile, saved.kek], [CREDENTIAL_ENV.est, saved.est]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
const status = (e: Enrolled) => ({ enforcer: e.name, generation: 0, mapFill: {}, health: null, drops: [], version: 't', certificateExpiresAt: e.expiresAt, droppedBatches: 0 });
async function stillServes(ctl: RunningController, e: Enrolled) {
  const c = e.client(ctl.grpcAddress);
  try {
    await expect(rpc.reportStatus(c, status(e))).resolves.toBeDefined();
  } finally {
    c.close();
  }
}

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('hole 13: the enforcer CA key', () => {
  it('13_sealed_with_kek: on disk it is no PEM private key, and a restart with the KEK still serves enforcers', async () => {
    const dir = path.join(work, 'sealed');
    let ctl = await start(dir, true);
    const admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    const e = await enrollEnforcer(ctl, admin, 'gw-sealed');
    await ctl.close();
    expect(fs.existsSync(path.join(dir, 'ca', 'ca.key'))).toBe(false);
    const sealed = fs.readFileSync(path.join(dir, 'ca', 'ca.key.sealed'), 'utf8');
    expect(sealed).not.toMatch(/PRIVATE KEY/);
    expect(JSON.parse(sealed)).toMatchObject({ format: 'cordon-sealed/v1', purpose: 'enforcer-ca-key' });
    for (const f of fs.readdirSync(path.join(dir, 'ca'))) expect(fs.readFileSync(path.join(dir, 'ca', f), 'utf8')).not.toMatch(/BEGIN (EC )?PRIVATE KEY/);

    ctl = await start(dir, true);
    try {
      await stillServes(ctl, e);
    } finally {
      await ctl.close();
    }
    // Without the KEK the controller does not start, and says why.
    await expect(start(dir, false)).rejects.toThrow(/sealed: give the --kek-file/);
  });

  it('13_seal_migrates_plain_key: a plain key is refused with the KEK until `cordon controller ca seal` migrates it', async () => {
    const dir = path.join(work, 'plain');
    let ctl = await start(dir, false);
    const admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    const e = await enrollEnforcer(ctl, admin, 'gw-plain');
    await ctl.close();
    expect(fs.readFileSync(path.join(dir, 'ca', 'ca.key'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/);

    await expect(start(dir, true)).rejects.toThrow(/cordon controller ca seal --data-dir/);
    const r = await runCli(['controller', 'ca', 'seal', '--data-dir', dir, '--kek-file', kekFile], { env: {} });
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
    expect(r.stdout).toMatch(/enforcer CA key sealed into/);
    expect(fs.existsSync(path.join(dir, 'ca', 'ca.key'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'ca', 'ca.key.sealed'), 'utf8')).not.toMatch(/PRIVATE KEY/);
    // Twice is a clear no-op error.
    expect((await runCli(['controller', 'ca', 'seal', '--data-dir', dir, '--kek-file', kekFile], { env: {} })).stderr).toMatch(/already sealed/);

    ctl = await start(dir, true);
    try {
      await stillServes(ctl, e); // the same key: the certificate issued before still verifies
      const revoked = await fetch(`${ctl.url}/v1/enforcers/gw-plain/revoke`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
      expect(revoked.status).toBe(200); // and the sealed key signs (the CRL)
      const c = e.client(ctl.grpcAddress);
      await expect(rpc.reportStatus(c, status(e))).rejects.toMatchObject({ code: Status.PERMISSION_DENIED });
      c.close();
    } finally {
      await ctl.close();
    }
  });
});
