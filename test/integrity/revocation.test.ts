/**
 * Hole 12: revocation races. Real gRPC over mTLS with real enforcer certificates:
 * - a stream that authenticates while a revoke runs does not survive it (it
 *   registers before it reads the store, so the revoke finds it to cut);
 * - a revoke on one controller cuts the enforcer's stream on another controller
 *   sharing the PostgreSQL database (LISTEN/NOTIFY);
 * - every certificate gets its expiry cut (the timer re-arms instead of
 *   overflowing), and --cert-ttl is capped at 7d with a clear error.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { status as Status } from '@grpc/grpc-js';
import { startController, validateConfig, type RunningController } from '../../apps/controller/src/main';
import { CertificateAuthority } from '../../apps/controller/src/control/ca/certificate-authority';
import { FlowAggregator } from '../../apps/controller/src/control/flows/flow-aggregator';
import { ControlServer } from '../../apps/controller/src/control/grpc/control.server';
import { Sessions } from '../../apps/controller/src/control/sessions';
import { MemoryGenerations, MemoryControlStore, keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { controlClient, rpc, type RawControlClient } from '../../proto/cordon/v1/client';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { until } from '../support/site';
import { enrollEnforcer } from './enroll';

jest.setTimeout(120_000);

/** Opens a WatchBundles stream; `ended` resolves with its final status. */
function openWatch(c: RawControlClient, enforcer: string) {
  const call = c.WatchBundles({ enforcer, lastGeneration: 0, lastHash: '' });
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('end', () => resolve(null));
  });
  call.on('data', () => undefined);
  return { call, ended };
}
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still open'>((r) => setTimeout(() => r('still open'), ms))]);

describe('hole 12: a stream authenticating during a revoke', () => {
  it('12_revoke_during_authentication: the stream is cut once it registers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-race-'));
    const ca = await CertificateAuthority.open(dir);
    // The real server with a store whose enforcer lookup can be held: the revoke lands after the
    // stream's one read of the store began (it reads "not revoked") and before it answered, the
    // window the race is about. The stream registered before that read, so the revoke cuts it.
    let hold: Promise<void> | null = null;
    let entered!: () => void;
    const inLookup = new Promise<void>((r) => (entered = r));
    class GatedStore extends MemoryControlStore {
      async getEnforcer(name: string) {
        const rec = this.enforcers.get(name) ?? null;
        const snapshot = rec ? { ...rec } : null; // what authenticate read, before the revoke
        if (hold) {
          const h = hold;
          hold = null;
          entered();
          await h;
        }
        return snapshot;
      }
    }
    const store = new GatedStore();
    const registry = new Registry();
    const generations = new MemoryGenerations();
    const server: ControlServer = new ControlServer({ ca, store, generations, log: pino({ level: 'silent' }), flows: new FlowAggregator(registry, generations) });
    const addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    const clients: RawControlClient[] = [];
    try {
      store.addToken('t-race');
      const { keyPem, csrPem } = await keyAndCsr();
      const anon = controlClient(addr, { caPem: null });
      clients.push(anon);
      const res = await rpc.enroll(anon, { token: 't-race', csrPem, name: 'gw-race' });
      const c = controlClient(addr, { caPem: res.caPem, certPem: res.certificatePem, keyPem });
      clients.push(c);

      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      const w = openWatch(c, 'gw-race');
      await inLookup; // admit() has read "not revoked" and waits
      expect(server.sessions.connected()).toEqual([]); // registered, not yet admitted: not connected
      const r = await server.revoke('gw-race');
      expect(r.callsCut).toBe(1); // registered before the read: found and cut
      release();
      expect(await within(w.ended, 5000)).toMatchObject({ code: Status.PERMISSION_DENIED });
      expect(server.sessions.connected()).toEqual([]);
    } finally {
      for (const c of clients) c.close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hole 12: expiry cuts and --cert-ttl', () => {
  it('12_expiry_timer_rearms: a far expiry is reached in steps, never lost to setTimeout overflow', async () => {
    const s = new Sessions();
    const saved = Sessions.MAX_TIMER_MS;
    Sessions.MAX_TIMER_MS = 40; // steps of 40 ms stand in for steps of a day
    try {
      const cuts: string[] = [];
      s.add({ enforcer: 'gw', serial: '01', kind: 'watch', cut: (_c, d) => cuts.push(d) }, new Date(Date.now() + 300));
      await new Promise((r) => setTimeout(r, 150));
      expect(cuts).toEqual([]); // several steps re-armed, not yet due
      await until('the expiry cut', () => cuts.length === 1, 3000);
      expect(cuts[0]).toMatch(/certificate expired/);
      expect(s.connected()).toEqual([]);
    } finally {
      Sessions.MAX_TIMER_MS = saved;
    }
  });

  it('12_cert_ttl_cap: --cert-ttl above 7d is refused with a clear error, 7d is accepted', () => {
    expect(() => validateConfig({ certTtl: '30d' })).toThrow(/--cert-ttl must be a duration between 5s and 7d/);
    expect(() => validateConfig({ certTtl: '25d' })).toThrow(/between 5s and 7d/);
    expect(validateConfig({ certTtl: '7d' }).certTtlMs).toBe(7 * 86_400_000);
  });
});

describe('hole 12: two controllers on one PostgreSQL', () => {
  let pg: TestPostgres;
  let a: RunningController;
  let b: RunningController;
  const dirs: string[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
    const databaseUrl = await pg.createDatabase('revoke');
    const dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-rva-'));
    const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-rvb-'));
    dirs.push(dirA, dirB);
    const quiet = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      a = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dirA, databaseUrl, logLevel: 'silent' });
      // One site, one enforcer CA: B is given A's CA key and certificate (as a shared key store would).
      fs.mkdirSync(path.join(dirB, 'ca'), { recursive: true, mode: 0o700 });
      for (const f of fs.readdirSync(path.join(dirA, 'ca')).filter((f) => /^ca\.(key|crt)/.test(f))) {
        fs.copyFileSync(path.join(dirA, 'ca', f), path.join(dirB, 'ca', f));
        fs.chmodSync(path.join(dirB, 'ca', f), 0o600);
      }
      b = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dirB, databaseUrl, logLevel: 'silent' });
    } finally {
      process.stderr.write = quiet;
    }
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('12_revoke_cuts_every_controller: enrolled on A, streaming to B, revoked on A: B cuts the stream', async () => {
    const admin = fs.readFileSync(a.adminTokenPath, 'utf8').trim();
    const e = await enrollEnforcer(a, admin, 'gw-shared');
    const onB = e.client(b.grpcAddress);
    try {
      const w = openWatch(onB, 'gw-shared');
      const status = { enforcer: 'gw-shared', generation: 0, mapFill: {}, health: null, drops: [], version: 't', certificateExpiresAt: e.expiresAt, droppedBatches: 0 };
      await expect(rpc.reportStatus(onB, status)).resolves.toBeDefined(); // B accepts A's certificate
      await until('B to list gw-shared as connected', async () => JSON.stringify(await (await fetch(`${b.url}/v1/enforcers-connected`, { headers: { authorization: `Bearer ${admin}` } })).json()).includes('gw-shared'), 5000);

      const r = await fetch(`${a.url}/v1/enforcers/gw-shared/revoke`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ revoked: true, streamsCut: 0 }); // nothing on A itself
      expect(await within(w.ended, 5000)).toMatchObject({ code: Status.PERMISSION_DENIED });
      // And a new call to B with the revoked certificate is refused.
      const again = e.client(b.grpcAddress);
      await expect(rpc.reportStatus(again, status)).rejects.toMatchObject({ code: Status.PERMISSION_DENIED });
      again.close();
    } finally {
      onB.close();
    }
  });
});
