/** Two controllers on one PostgreSQL see each other's changes (NOTIFY, with polling behind it). */
import { firstValueFrom, filter, timeout } from 'rxjs';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { SITE } from './fixtures';
import { startTestController, type TestController } from './harness';

describe('two controllers on one PostgreSQL', () => {
  let pg: TestPostgres;
  let a: TestController;
  let b: TestController;

  beforeAll(async () => {
    pg = await startPostgres();
    const databaseUrl = await pg.createDatabase('shared');
    a = await startTestController('postgres', { pg, databaseUrl });
    b = await startTestController('postgres', { pg, databaseUrl });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.stop();
  });

  it('shares tokens, documents and generations', async () => {
    // b found an admin already in the database and made none of its own; a's token works on b.
    expect(b.adminToken).toBe('');
    const call = (t: TestController, m: string, p: string, body?: unknown) => t.call(m, p, body, { token: a.adminToken });

    const r = await call(a, 'POST', '/v1/apply', { documents: SITE });
    expect(r.status).toBe(200);
    expect((await call(b, 'GET', '/v1/segments/sensors')).status).toBe(200);
    expect((await call(b, 'GET', '/v1/bundles/current')).body.generation).toBe(1);

    // Generations from b reach a's generation$ (what enforcers connected to a are streamed from).
    const seenOnA = firstValueFrom(a.ctl.bundles.generation$.pipe(filter((g) => g >= 2), timeout(10_000)));
    const r2 = await call(b, 'POST', '/v1/apply', { documents: [{ ...SITE[0], spec: { cidrs: ['10.10.1.0/24', '10.10.4.0/24'] } }] });
    expect(r2.body.generation).toBe(2);
    expect(await seenOnA).toBe(2);
    expect((await a.ctl.bundles.current())?.generation).toBe(2);
    const m = await a.call('GET', '/metrics', undefined, { token: null });
    expect(m.body).toMatch(/cordon_policy_generation 2/);

    // Concurrent applies on both never collide on a generation.
    const docs = (n: number) => [{ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: `s${n}` }, spec: { cidrs: [`10.50.${n}.0/24`] } }];
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => call(n % 2 ? a : b, 'POST', '/v1/apply', { documents: docs(n) })));
    expect(results.map((x) => x.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(results.map((x) => x.body.generation)).size).toBe(6);
    expect((await call(a, 'POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('a controller whose site another changed catches up by the documents that differ, and stores exactly what a full compile gives', async () => {
    const call = (t: TestController, m: string, p: string, body?: unknown) => t.call(m, p, body, { token: a.adminToken });
    const loads = async (t: TestController, how: string) => Number(new RegExp(`^cordon_site_loads_total\\{how="${how}"\\} (\\d+)$`, 'm').exec((await t.call('GET', '/metrics', undefined, { token: null })).body)?.[1] ?? 0);
    const devices = (from: number, n: number, seg: string, net: number) =>
      Array.from({ length: n }, (_, i) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: `d${from + i}` }, spec: { addresses: [`10.${net}.${(from + i) >> 8}.${(from + i) & 255}`] }, seg }));
    const site = [
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'plugs' }, spec: { cidrs: ['10.60.0.0/16'] } },
      ...devices(0, 500, 'plugs', 60).map(({ seg: _s, ...d }) => d),
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'plugs-out' }, spec: { from: ['plugs'], to: ['world'], allow: [{ protocol: 'tcp', ports: ['443'] }] } },
    ];
    expect((await call(a, 'POST', '/v1/apply', { documents: site })).status).toBe(200);
    expect((await call(b, 'POST', '/v1/apply', { documents: [{ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'cams' }, spec: { cidrs: ['10.61.0.0/16'] } }] })).status).toBe(200);
    // a changes a device, a policy, and adds a segment (a new identity that b must number as a did); then b applies
    const before = await loads(b, 'incremental');
    const full = await loads(b, 'full');
    const r1 = await call(a, 'POST', '/v1/apply', {
      documents: [
        { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'd7' }, spec: { addresses: ['10.60.9.9'] } },
        { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'meters' }, spec: { cidrs: ['10.62.0.0/16'] } },
        { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'plugs-out' }, spec: { from: ['plugs'], to: ['world', 'meters'], allow: [{ protocol: 'tcp', ports: ['443', '8883'] }] } },
      ],
    });
    expect(r1.status).toBe(200);
    const r2 = await call(b, 'POST', '/v1/apply', { documents: [{ apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'cams-out' }, spec: { from: ['cams'], to: ['meters'], allow: [{ protocol: 'udp', ports: ['5683'] }] } }] });
    expect(r2.status).toBe(200);
    expect(await loads(b, 'incremental')).toBe(before + 1);
    expect(await loads(b, 'full')).toBe(full);
    // what b stored is the site compiled whole (with the stored rule numbers, as a controller loading it afresh compiles it)
    const stored = (await call(b, 'GET', '/v1/bundles/current')).body;
    const { compile } = await import('../../apps/controller/src/compiler/compile');
    const { toDocument } = await import('../../apps/controller/src/apply/site-state');
    const docs = (await b.ctl.store.documents.list()).map(toDocument);
    const identities = await b.ctl.store.identities.all();
    expect(stored.generation).toBe(r2.body.generation);
    expect(compile(docs, { identities, generation: stored.generation, rules: stored.rules }).hash).toBe(stored.hash);
  });
});
