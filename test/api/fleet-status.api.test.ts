/**
 * Issue 14, fleet status: two real controllers (--id ctl-a, ctl-b) on one real
 * PostgreSQL, an enforcer enrolled on ctl-b over real gRPC (mTLS) holding its
 * bundle stream there. Controller ctl-a, which never saw the stream, says from
 * the shared store where the enforcer is connected, the generation it enforces
 * against the site's current one and whether it is in sync, its version,
 * certificate expiry and fullest map, in GET /v1/enforcers, in its per-enforcer
 * metrics and in `cordon get enforcers -o wide` (bin/cordon.js, from dist/).
 * A new apply puts the enforcer out of sync until it reports; a closed stream
 * or a stopped controller leaves it unconnected, a dead controller's stale row does
 * not count; a revocation removes its series.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { controlClient, rpc, type RawControlClient } from '../../proto/cordon/v1/client';
import type { EnforcerStatus } from '../../proto/cordon/v1/control';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { SITE } from './fixtures';
import { startTestController, type TestController } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
const NAME = 'gw-fleet';

/** `value` of one sample of `name` labelled enforcer=NAME; null when the series is absent. */
function sample(text: string, name: string): number | null {
  const m = new RegExp(`^${name}\\{enforcer="${NAME}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('fleet status across the controllers of a site (issue 14)', () => {
  let pg: TestPostgres;
  let a: TestController;
  let b: TestController;
  let admin: string;
  let client: RawControlClient;
  let expiresAt: number;

  const onA = (m: string, p: string, body?: unknown) => a.call(m, p, body, { token: admin });
  const enforcerOnA = async () => (await onA('GET', `/v1/enforcers/${NAME}`)).body;
  const metricsOfA = async () => (await a.call('GET', '/metrics', undefined, { token: null })).body as string;
  const watch = () => {
    const call = client.WatchBundles({ enforcer: NAME, lastGeneration: 0, lastHash: '' });
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    return call;
  };
  const status = (generation: number): EnforcerStatus => ({
    enforcer: NAME,
    generation,
    mapFill: { policy: { entries: 30, max: 100 }, ipcache: { entries: 50, max: 1000 } },
    health: { healthy: true, detail: '', interfaces: ['eth1'], adopted: false, epoch: 1 },
    drops: [],
    version: '9.8.7-test',
    certificateExpiresAt: expiresAt,
    droppedBatches: 0,
  });

  beforeAll(async () => {
    pg = await startPostgres();
    const databaseUrl = await pg.createDatabase('fleet');
    a = await startTestController('postgres', { pg, databaseUrl }, { id: 'ctl-a' });
    b = await startTestController('postgres', { pg, databaseUrl }, { id: 'ctl-b' });
    admin = a.adminToken;
    const tok = await b.call('POST', '/v1/tokens', { kind: 'enrollment', ttl: '10m' }, { token: admin });
    const { keyPem, csrPem } = await keyAndCsr();
    const res = await rpc.enroll(controlClient(b.ctl.grpcAddress, { caPem: null }), { token: tok.body.token, csrPem, name: NAME });
    expiresAt = Number(res.expiresAt);
    client = controlClient(b.ctl.grpcAddress, { caPem: res.caPem, certPem: res.certificatePem, keyPem });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await a?.close();
    await b?.close();
    await pg?.stop();
  });

  it('shows on the other controller where the enforcer is connected, whether it is in sync, and its figures; metrics agree; the CLI prints them', async () => {
    expect((await onA('POST', '/v1/apply', { documents: SITE })).body.generation).toBe(1);
    const call = watch();
    await until('the stream on ctl-b seen from ctl-a', async () => (await enforcerOnA()).controller === 'ctl-b');
    await rpc.reportStatus(client, status(1));

    const e = await enforcerOnA();
    expect(e).toMatchObject({
      name: NAME,
      connected: true,
      controller: 'ctl-b',
      generation: 1,
      currentGeneration: 1,
      inSync: true,
      version: '9.8.7-test',
      certExpiresAt: new Date(expiresAt).toISOString(),
      mapFill: { map: 'policy', entries: 30, max: 100, percent: 30 },
      revoked: false,
    });
    // The list says the same, on either controller.
    expect((await onA('GET', '/v1/enforcers')).body.items).toEqual([e]);
    expect((await b.call('GET', '/v1/enforcers', undefined, { token: admin })).body.items[0]).toMatchObject({ controller: 'ctl-b', inSync: true });

    const m = await metricsOfA();
    expect(sample(m, 'cordon_enforcer_connected')).toBe(1);
    expect(sample(m, 'cordon_enforcer_generation')).toBe(1);
    expect(sample(m, 'cordon_enforcer_in_sync')).toBe(1);
    expect(sample(m, 'cordon_enforcer_map_fill_ratio')).toBe(0.3);
    expect(sample(m, 'cordon_enforcer_certificate_expiry_timestamp_seconds')).toBe(expiresAt / 1000);
    // This controller's own stream count stays its own: the stream is on ctl-b.
    expect(m).toMatch(/^cordon_enforcers_connected 0$/m);

    // `cordon get enforcers` (bin/cordon.js) against ctl-a: default and wide columns.
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [path.join(ROOT, 'bin', 'cordon.js'), ...args, '--server', a.url, '--token', admin], { cwd: ROOT, timeout: 30_000, env: { PATH: process.env.PATH, HOME: a.dataDir } }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr }),
        ),
      );
    const plain = await cli(['get', 'enforcers']);
    expect(plain.stderr).toBe('');
    const [head, row] = plain.stdout.trimEnd().split('\n');
    expect(head.split(/\s{2,}/)).toEqual(['NAME', 'CONNECTED', 'GENERATION', 'IN SYNC', 'LAST SEEN']);
    expect(row.split(/\s{2,}/).slice(0, 4)).toEqual([NAME, 'ctl-b', '1/1', 'yes']);
    const wide = await cli(['get', 'enforcers', '-o', 'wide']);
    const [wHead, wRow] = wide.stdout.trimEnd().split('\n');
    const cells = Object.fromEntries(wHead.split(/\s{2,}/).map((h, i) => [h, wRow.split(/\s{2,}/)[i]]));
    expect(cells).toMatchObject({
      NAME: NAME,
      CONNECTED: 'ctl-b',
      GENERATION: '1/1',
      'IN SYNC': 'yes',
      VERSION: '9.8.7-test',
      'CERT EXPIRES': new Date(expiresAt).toISOString(),
      'MAP FILL': '30% policy',
      INTERFACES: 'eth1',
    });

    // A new generation: out of sync until the enforcer reports it.
    expect((await onA('POST', '/v1/apply', { documents: [{ ...SITE[0], spec: { cidrs: ['10.10.1.0/24', '10.10.4.0/24'] } }] })).body.generation).toBe(2);
    expect(await enforcerOnA()).toMatchObject({ connected: true, generation: 1, currentGeneration: 2, inSync: false });
    expect(sample(await metricsOfA(), 'cordon_enforcer_in_sync')).toBe(0);
    expect((await cli(['get', 'enforcers'])).stdout.trimEnd().split('\n')[1].split(/\s{2,}/).slice(0, 4)).toEqual([NAME, 'ctl-b', '1/2', 'no']);
    await rpc.reportStatus(client, status(2));
    expect(await enforcerOnA()).toMatchObject({ generation: 2, currentGeneration: 2, inSync: true });
    const m2 = await metricsOfA();
    expect([sample(m2, 'cordon_enforcer_generation'), sample(m2, 'cordon_enforcer_in_sync')]).toEqual([2, 1]);

    // The stream closes: not connected anywhere, at once (not after a staleness window).
    call.cancel();
    await until('the closed stream seen from ctl-a', async () => (await enforcerOnA()).connected === false, 5000);
    expect(await enforcerOnA()).toMatchObject({ controller: null, generation: 2, inSync: true });
    expect(sample(await metricsOfA(), 'cordon_enforcer_connected')).toBe(0);
    expect((await cli(['get', 'enforcers'])).stdout.trimEnd().split('\n')[1].split(/\s{2,}/)[1]).toBe('no');

    // Open again, then ctl-b stops: its streams go with it.
    watch();
    await until('the reopened stream', async () => (await enforcerOnA()).controller === 'ctl-b');
    // A controller that died without clearing its rows (its last refresh a minute ago) does not count,
    // though its row is the newest; a live one elsewhere would be shown first (newest stream wins).
    await a.ctl.store.sql.query(`insert into enforcer_streams (enforcer, controller, opened_at, refreshed_at) values ($1, 'ctl-dead', now() + interval '1 minute', now() - interval '1 minute')`, [NAME]);
    expect((await enforcerOnA()).controller).toBe('ctl-b');
    await a.ctl.store.sql.query(`update enforcer_streams set refreshed_at = now() where controller = 'ctl-dead'`);
    expect((await enforcerOnA()).controller).toBe('ctl-dead');
    await a.ctl.store.sql.query(`delete from enforcer_streams where controller = 'ctl-dead'`);
    await b.close();
    await until('ctl-b gone', async () => (await enforcerOnA()).connected === false, 5000);

    // Revoked: listed as such, and its series leave the metrics.
    expect((await onA('POST', `/v1/enforcers/${NAME}/revoke`)).status).toBe(200);
    expect(await enforcerOnA()).toMatchObject({ revoked: true, connected: false, controller: null });
    const m3 = await metricsOfA();
    for (const name of ['cordon_enforcer_connected', 'cordon_enforcer_generation', 'cordon_enforcer_in_sync', 'cordon_enforcer_map_fill_ratio']) expect(sample(m3, name)).toBeNull();
    expect((await cli(['get', 'enforcers'])).stdout.trimEnd().split('\n')[1].split(/\s{2,}/)[1]).toBe('no (revoked)');
  }, 90_000);

  it('describes the fleet fields in the OpenAPI document', async () => {
    const doc = (await a.call('GET', '/v1/openapi.json', undefined, { token: null })).body;
    expect(Object.keys(doc.components.schemas.Enforcer.properties)).toEqual(expect.arrayContaining(['connected', 'controller', 'currentGeneration', 'inSync', 'version', 'certExpiresAt', 'mapFill']));
  });

  it('refuses a malformed --id with a clear error', async () => {
    await expect(startTestController('pglite', undefined, { id: 'two words' })).rejects.toThrow(/--id must be 1 to 128 letters/);
  });
});

describe('fleet status on the embedded store (PGlite), default controller id', () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists the enforcer connected to HOSTNAME:GRPC-PORT while its stream is open', async () => {
    const tok = await t.call('POST', '/v1/tokens', { kind: 'enrollment', ttl: '10m' });
    const { keyPem, csrPem } = await keyAndCsr();
    const res = await rpc.enroll(controlClient(t.ctl.grpcAddress, { caPem: null }), { token: tok.body.token, csrPem, name: NAME });
    const c = controlClient(t.ctl.grpcAddress, { caPem: res.caPem, certPem: res.certificatePem, keyPem });
    const call = c.WatchBundles({ enforcer: NAME, lastGeneration: 0, lastHash: '' });
    call.on('error', () => undefined);
    const id = `${os.hostname()}:${t.ctl.grpcPort}`;
    await until('connected', async () => (await t.call('GET', `/v1/enforcers/${NAME}`)).body.controller === id);
    expect((await t.call('GET', `/v1/enforcers/${NAME}`)).body).toMatchObject({ connected: true, generation: null, currentGeneration: 0, inSync: true, mapFill: null });
    call.cancel();
    await until('disconnected', async () => (await t.call('GET', `/v1/enforcers/${NAME}`)).body.connected === false);
    c.close();
  });
});
