/**
 * Issue 14: the enforcer CA's issued and revoked lists are the site's, in the
 * store, not files of one controller. Real controllers (in-process), a real
 * PostgreSQL server, real gRPC over mTLS with real enforcer certificates:
 * - a certificate issued on A (and since renewed, so the enforcer's record
 *   names another) is accepted on B, as on A;
 * - a certificate revoked on B (its enforcer enrolled again since, so only the
 *   revoked list refuses it) is refused on A and is in A's CRL within 2 s;
 * - a controller on the embedded store keeps both lists over a restart, and
 *   writes no issued.json / revoked.json;
 * - a data dir with legacy issued.json / revoked.json is imported once, and the
 *   other controllers of the site then know those certificates; a bad legacy
 *   file is refused at start with its name and entry.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import { status as Status } from '@grpc/grpc-js';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { CertificateAuthority } from '../../apps/controller/src/control/ca/certificate-authority';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { controlClient, rpc } from '../../proto/cordon/v1/client';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { enrollEnforcer, type Enrolled } from './enroll';

jest.setTimeout(180_000);

function kekFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-kek-'));
  const f = path.join(dir, 'kek');
  fs.writeFileSync(f, randomBytes(32), { mode: 0o600 });
  return f;
}

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stderr.write = w;
  }
}

const status = (name: string) => ({ enforcer: name, generation: 0, mapFill: {}, health: null, drops: [], version: 't', certificateExpiresAt: Date.now() + 3600_000, droppedBatches: 0 });

/** ReportStatus with a certificate (PEM and key) on `grpcAddress`: 'ok' or the gRPC status code. */
async function present(grpcAddress: string, caPem: string, certPem: string, keyPem: string, name: string): Promise<'ok' | number> {
  const c = controlClient(grpcAddress, { caPem, certPem, keyPem });
  try {
    await rpc.reportStatus(c, status(name));
    return 'ok';
  } catch (err) {
    return (err as { code: number }).code;
  } finally {
    c.close();
  }
}
const presentEnrolled = (ctl: RunningController, e: Enrolled) => present(ctl.grpcAddress, e.caPem, e.certPem, e.keyPem, e.name);

async function crlSerials(ctl: RunningController): Promise<string[]> {
  const pem = await (await fetch(`${ctl.url}/v1/control/crl.pem`)).text();
  return new x509.X509Crl(pem).entries.map((e) => e.serialNumber.toLowerCase());
}

const admin = (ctl: RunningController) => fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
const revoke = (ctl: RunningController, token: string, name: string) =>
  fetch(`${ctl.url}/v1/enforcers/${name}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

describe('issue 14: the enforcer CA lists are the site\'s', () => {
  let pg: TestPostgres;
  const dirs: string[] = [];
  const ctls: RunningController[] = [];
  const saved = { kek: process.env.CORDON_KEK_FILE, est: process.env.CORDON_EST };
  const dataDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-calists-'));
    dirs.push(d);
    return d;
  };
  const start = async (dir: string, databaseUrl?: string) => {
    const c = await quietly(() => startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dir, databaseUrl, logLevel: 'silent' }));
    ctls.push(c);
    return c;
  };
  beforeAll(async () => {
    pg = await startPostgres();
    process.env.CORDON_KEK_FILE = kekFile(); // the enforcer CA sealed, so the site shares it
    process.env.CORDON_EST = 'off';
  });
  afterAll(async () => {
    for (const c of ctls) await c.close().catch(() => undefined);
    for (const [k, v] of [['CORDON_KEK_FILE', saved.kek], ['CORDON_EST', saved.est]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('14_ca_lists_shared: issued on A is accepted on B; revoked on B is refused on A and in A\'s CRL within 2 s', async () => {
    const databaseUrl = await pg.createDatabase('calists');
    const a = await start(dataDir(), databaseUrl);
    const b = await start(dataDir(), databaseUrl);
    const token = admin(a);

    // Issued on A, then renewed on A: the enforcer's record names the new serial, the first certificate is still valid.
    const first = await enrollEnforcer(a, token, 'gw-renewed');
    const { keyPem, csrPem } = await keyAndCsr();
    const c = first.client(a.grpcAddress);
    const renewed = await rpc.renew(c, { csrPem });
    c.close();
    expect(renewed.serial).not.toBe(first.serial);
    expect(await presentEnrolled(a, first)).toBe('ok');
    expect(await presentEnrolled(b, first)).toBe('ok'); // B knows what A issued
    expect(await present(b.grpcAddress, first.caPem, renewed.certificatePem, keyPem, 'gw-renewed')).toBe('ok');

    // Revoked on B, then enrolled again on B: only the revoked list refuses the first certificate now.
    const old = await enrollEnforcer(a, token, 'gw-moved');
    expect(await presentEnrolled(a, old)).toBe('ok');
    const t0 = Date.now();
    expect((await revoke(b, token, 'gw-moved')).status).toBe(200);
    const again = await enrollEnforcer(b, token, 'gw-moved');
    let refusedAfter = -1;
    let inCrlAfter = -1;
    while (Date.now() - t0 < 2000 && (refusedAfter < 0 || inCrlAfter < 0)) {
      if (refusedAfter < 0 && (await presentEnrolled(a, old)) === Status.PERMISSION_DENIED) refusedAfter = Date.now() - t0;
      if (inCrlAfter < 0 && (await crlSerials(a)).includes(old.serial)) inCrlAfter = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`revoked on B: refused on A after ${refusedAfter} ms, in A's CRL after ${inCrlAfter} ms`);
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(inCrlAfter).toBeGreaterThanOrEqual(0);
    expect(await presentEnrolled(a, again)).toBe('ok'); // the new certificate, issued on B, is good on A
    expect(await crlSerials(b)).toContain(old.serial);
    expect(await crlSerials(a)).not.toContain(again.serial);
  });

  it('14_ca_lists_embedded_restart: on the embedded store both lists survive a restart, and no list file is written', async () => {
    const dir = dataDir();
    let ctl = await start(dir);
    const token = admin(ctl);
    const first = await enrollEnforcer(ctl, token, 'gw-e');
    const { csrPem } = await keyAndCsr();
    const c = first.client(ctl.grpcAddress);
    await rpc.renew(c, { csrPem });
    c.close();
    const old = await enrollEnforcer(ctl, token, 'gw-r');
    expect((await revoke(ctl, token, 'gw-r')).status).toBe(200);
    const again = await enrollEnforcer(ctl, token, 'gw-r');
    const rows = await ctl.store.sql.query<{ serial: string }>('select serial from ca_revoked_certs');
    expect(rows.map((r) => r.serial)).toEqual([old.serial]);
    await ctl.close();
    ctls.splice(ctls.indexOf(ctl), 1);

    ctl = await start(dir);
    expect(await presentEnrolled(ctl, first)).toBe('ok'); // issued list kept: renewed away, still valid
    expect(await presentEnrolled(ctl, old)).toBe(Status.PERMISSION_DENIED); // revoked list kept
    expect(await presentEnrolled(ctl, again)).toBe('ok');
    expect(await crlSerials(ctl)).toEqual([old.serial]);
    expect(fs.readdirSync(path.join(dir, 'ca')).filter((f) => /^(issued|revoked)\.json/.test(f))).toEqual([]);
  });

  it('14_ca_lists_legacy_import: a data dir\'s issued.json / revoked.json are imported once, for every controller of the site', async () => {
    // A data dir from before: the CA, and its lists in files.
    const legacy = dataDir();
    const ca = await CertificateAuthority.open(legacy, { kekFile: process.env.CORDON_KEK_FILE });
    const good = await keyAndCsr();
    const bad = await keyAndCsr();
    const kept = await ca.signEnforcerCsr(good.csrPem, 'gw-legacy', 3600_000);
    const gone = await ca.signEnforcerCsr(bad.csrPem, 'gw-legacy-revoked', 3600_000);
    const rec = (s: { serial: string; notAfter: Date }, name: string) => ({ serial: s.serial, name, kind: 'enforcer', issuedAt: new Date().toISOString(), notAfter: s.notAfter.toISOString() });
    fs.writeFileSync(path.join(legacy, 'ca', 'issued.json'), JSON.stringify([rec(kept, 'gw-legacy'), rec(gone, 'gw-legacy-revoked')]));
    fs.writeFileSync(path.join(legacy, 'ca', 'revoked.json'), JSON.stringify([{ serial: gone.serial, name: 'gw-legacy-revoked', revokedAt: new Date().toISOString() }]));
    await ca.close();

    const databaseUrl = await pg.createDatabase('calegacy');
    const l = await start(legacy, databaseUrl);
    const m = await start(dataDir(), databaseUrl); // takes the site's CA from the database, knows nothing of the files
    expect(await present(m.grpcAddress, ca.certificatePem, kept.certificatePem, good.keyPem, 'gw-legacy')).toBe('ok');
    expect(await present(m.grpcAddress, ca.certificatePem, gone.certificatePem, bad.keyPem, 'gw-legacy-revoked')).toBe(Status.PERMISSION_DENIED);
    expect(await crlSerials(m)).toEqual([gone.serial]);
    expect(await crlSerials(l)).toEqual([gone.serial]);
    // Imported once: renamed, and not written again by a new issuance.
    await enrollEnforcer(l, admin(l), 'gw-new');
    expect(fs.readdirSync(path.join(legacy, 'ca')).filter((f) => f.includes('.json')).sort()).toEqual(['issued.json.imported', 'revoked.json.imported']);

    // A legacy file that is not a list is refused with its name and entry; the controller does not start.
    const broken = dataDir();
    await (await CertificateAuthority.open(broken, { kekFile: process.env.CORDON_KEK_FILE })).close();
    fs.writeFileSync(path.join(broken, 'ca', 'issued.json'), JSON.stringify([{ serial: 'zz', name: 'x' }]));
    await expect(quietly(() => startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: broken, logLevel: 'silent' }))).rejects.toThrow(/issued\.json entry 0: serial must be hex/);
    expect(fs.existsSync(path.join(broken, 'ca', 'issued.json'))).toBe(true);
  });
});
