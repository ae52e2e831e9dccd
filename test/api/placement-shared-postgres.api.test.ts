/**
 * Places on two controllers sharing one PostgreSQL: an enforcer streams from
 * b; `cordon label enforcer` on a reaches b's open stream at once (NOTIFY),
 * and b sends it the view its new labels give.
 */
import 'reflect-metadata';
import { controlClient, rpc } from '../../proto/cordon/v1/client';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { Holder } from '../support/bundle-holder';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { until } from '../support/wait';
import { startTestController, type TestController } from './harness';

const seg = (name: string, cidrs: string[], enforcers?: Record<string, string>) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs, ...(enforcers ? { enforcers } : {}) } });

describe('placement on two controllers sharing PostgreSQL', () => {
  let pg: TestPostgres;
  let a: TestController;
  let b: TestController;

  beforeAll(async () => {
    pg = await startPostgres();
    const databaseUrl = await pg.createDatabase('placement');
    a = await startTestController('postgres', { pg, databaseUrl });
    b = await startTestController('postgres', { pg, databaseUrl });
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.stop();
  });

  it('a relabel on one controller re-sends the bundle on the other\'s open stream', async () => {
    const call = (t: TestController, m: string, p: string, body?: unknown) => t.call(m, p, body, { token: a.adminToken });
    const docs = [seg('lan', ['10.62.1.0/24']), seg('plant1', ['10.62.11.0/24'], { site: 'plant-1' }), seg('plant2', ['10.62.21.0/24'], { site: 'plant-2' })];
    expect((await call(a, 'POST', '/v1/apply', { documents: docs })).status).toBe(200);
    const tok = await call(a, 'POST', '/v1/tokens', { kind: 'enrollment', ttl: '10m' });
    const { keyPem, csrPem } = await keyAndCsr();
    const res = await rpc.enroll(controlClient(b.ctl.grpcAddress, { caPem: null }), { token: tok.body.token, csrPem, name: 'gw-shared' });
    const c = controlClient(b.ctl.grpcAddress, { caPem: res.caPem, certPem: res.certificatePem, keyPem });
    const h = new Holder(c, 'gw-shared', { site: 'plant-1' });
    await until('the plant-1 view from b', () => h.cidrs().includes('10.62.11.0/24'), 10_000);
    expect(h.cidrs()).toEqual(['10.62.1.0/24', '10.62.11.0/24']);

    const r = await call(a, 'PATCH', '/v1/enforcers/gw-shared/labels', { set: { site: 'plant-2' } });
    expect(r.status).toBe(200);
    await until('b to re-send the plant-2 view', () => h.cidrs().includes('10.62.21.0/24'), 10_000);
    expect(h.cidrs()).toEqual(['10.62.1.0/24', '10.62.21.0/24']);
    expect(h.updates[h.updates.length - 1]).toMatchObject({ body: 'delta' });
    h.call.cancel();
    await h.ended;
    c.close();
  }, 60_000);
});
