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
});
