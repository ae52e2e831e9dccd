/**
 * The REST contract against a real controller, once on embedded PGlite and once
 * on a real PostgreSQL server (test/support/postgres.ts). Nothing is mocked.
 */
import { startTestController, type Driver, type TestController } from './harness';
import { SITE } from './fixtures';

describe.each<Driver>(['pglite', 'postgres'])('controller REST on %s', (driver) => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is healthy, serves metrics and the OpenAPI description without a token', async () => {
    expect((await t.call('GET', '/healthz', undefined, { token: null })).body).toMatchObject({ status: 'ok', store: driver });
    const m = await t.call('GET', '/metrics', undefined, { token: null });
    expect(m.body).toContain('cordon_policy_generation');
    const o = await t.call('GET', '/v1/openapi.json', undefined, { token: null });
    expect(o.body.openapi).toMatch(/^3\./);
    for (const p of ['/v1/apply', '/v1/segments', '/v1/segments/{name}', '/v1/trace', '/v1/audit', '/v1/audit/export', '/v1/audit/verify', '/v1/tokens', '/v1/enforcers', '/v1/bundles/current']) {
      expect(o.body.paths).toHaveProperty([p]);
    }
  });

  it('dry-run validates and shows the diff but stores nothing', async () => {
    const r = await t.call('POST', '/v1/apply', { documents: SITE, dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ dryRun: true, changed: true, generation: 1 });
    expect(r.body.documents).toContainEqual(expect.objectContaining({ kind: 'Segment', name: 'sensors', action: 'created' }));
    expect((await t.call('GET', '/v1/segments')).body.items).toEqual([]);
    expect((await t.call('GET', '/v1/bundles/current')).status).toBe(404);
  });

  it('applies, then gets what it stored', async () => {
    const r = await t.call('POST', '/v1/apply', { documents: SITE });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ dryRun: false, changed: true, generation: 1 });
    expect(r.body.hash).toMatch(/^[0-9a-f]{64}$/);
    const seg = await t.call('GET', '/v1/segments/sensors');
    expect(seg.body).toMatchObject({ kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] }, version: 1 });
    const b = await t.call('GET', '/v1/bundles/current');
    expect(b.body).toMatchObject({ generation: 1, hash: r.body.hash });
    // Same documents again: nothing changes, no new generation.
    const again = await t.call('POST', '/v1/apply', { documents: SITE });
    expect(again.body).toMatchObject({ changed: false, generation: 1 });
    // A field-level diff on update.
    const upd = await t.call('POST', '/v1/apply', { documents: [{ ...SITE[0], spec: { cidrs: ['10.10.1.0/24', '10.10.3.0/24'] } }] });
    expect(upd.body).toMatchObject({ generation: 2, documents: [{ action: 'updated', changes: [{ path: 'spec.cidrs[1]', to: '10.10.3.0/24' }] }] });
    const m = await t.call('GET', '/metrics', undefined, { token: null });
    expect(m.body).toMatch(/cordon_policy_generation 2/);
    expect(m.body).toMatch(/cordon_documents\{kind="Segment"\} 3/);
    expect(m.body).toMatch(/cordon_apply_duration_seconds_count/);
  });

  it('accepts YAML text', async () => {
    const yaml = 'apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: lab }\nspec:\n  cidrs: [10.20.0.0/16]\n';
    const r = await t.call('POST', '/v1/apply', yaml, { contentType: 'application/yaml' });
    expect(r.status).toBe(200);
    expect(r.body.documents).toEqual([expect.objectContaining({ kind: 'Segment', name: 'lab', action: 'created' })]);
  });

  it('rejects an invalid document with 400 naming document and field, storing nothing', async () => {
    const before = (await t.call('GET', '/v1/bundles/current')).body.generation;
    const bad = [
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'fine' }, spec: { cidrs: ['10.30.0.0/16'] } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broken' }, spec: { cidrs: ['10.0.0.300/24'] } },
    ];
    const r = await t.call('POST', '/v1/apply', { documents: bad });
    expect(r.status).toBe(400);
    expect(r.type).toMatch(/application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 400, title: expect.any(String) });
    expect(r.body.issues).toContainEqual(expect.objectContaining({ document: 1, path: expect.stringContaining('spec.cidrs') }));
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
    expect((await t.call('GET', '/v1/segments/fine')).status).toBe(404);
    expect((await t.call('GET', '/v1/bundles/current')).body.generation).toBe(before);
  });

  it('answers bad JSON with a 400 problem and an oversized body with 413', async () => {
    const r = await t.call('POST', '/v1/apply', '{"documents": [', {});
    expect(r.status).toBe(400);
    expect(r.type).toMatch(/problem\+json/);
    const big = await t.call('POST', '/v1/apply', { documents: [], pad: 'x'.repeat(65 * 1024 * 1024) }); // over the default --max-body of 64 MiB
    expect(big.status).toBe(413);
  });

  it('refuses an apply whose policy tests fail, listing each failure', async () => {
    const before = (await t.call('GET', '/v1/bundles/current')).body.generation;
    const breaking = {
      apiVersion: 'cordon/v1',
      kind: 'Policy',
      metadata: { name: 'sensors-to-broker' },
      spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['1883'] }] },
    };
    const cams = {
      apiVersion: 'cordon/v1',
      kind: 'Policy',
      metadata: { name: 'cams-out' },
      spec: { from: ['cameras'], to: ['world'], allow: [{ protocol: 'tcp', ports: ['443'] }] },
    };
    const r = await t.call('POST', '/v1/apply', { documents: [breaking, cams] });
    expect(r.status).toBe(422);
    expect(r.body.failures).toHaveLength(2);
    expect(r.body.failures).toContainEqual(expect.objectContaining({ from: 'sensors', to: 'broker', expected: 'allow', got: 'deny', packet: expect.any(String) }));
    expect(r.body.failures).toContainEqual(expect.objectContaining({ from: 'cam-07', expected: 'deny', got: 'allow', policy: 'cams-out' }));
    expect((await t.call('GET', '/v1/policies/cams-out')).status).toBe(404);
    expect((await t.call('GET', '/v1/bundles/current')).body.generation).toBe(before);
    // Deleting the policy the tests rely on is refused the same way.
    const del = await t.call('DELETE', '/v1/policies/sensors-to-broker');
    expect(del.status).toBe(422);
    expect((await t.call('GET', '/v1/policies/sensors-to-broker')).status).toBe(200);
  });

  it('traces a packet (GET and POST)', async () => {
    const g = await t.call('GET', '/v1/trace?from=sensors&to=broker&protocol=tcp&port=8883');
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({ verdict: 'allow', policy: 'sensors-to-broker', from: { segment: 'sensors' }, to: { segment: 'broker' } });
    const p = await t.call('POST', '/v1/trace', { from: 'cam-07', to: '203.0.113.9', protocol: 'tcp', port: 443 });
    expect(p.body).toMatchObject({ verdict: 'deny', policy: null, from: { device: 'cam-07', segment: 'cameras' }, to: { segment: 'world' } });
    expect((await t.call('GET', '/v1/trace?from=sensors')).status).toBe(400);
  });

  it('paginates lists with limit and cursor', async () => {
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/v1/segments?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const r = await t.call('GET', q);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      names.push(...r.body.items.map((d: { metadata: { name: string } }) => d.metadata.name));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(names).toEqual(['broker', 'cameras', 'lab', 'sensors']);
    expect((await t.call('GET', '/v1/segments?limit=0')).status).toBe(400);
    const a = await t.call('GET', '/v1/audit?limit=1');
    expect(a.body.items).toHaveLength(1);
    expect(a.body.nextCursor).toBeTruthy();
  });

  it('enforces roles: no token 401, viewer cannot apply, operator cannot create tokens', async () => {
    expect((await t.call('GET', '/v1/segments', undefined, { token: null })).status).toBe(401);
    expect((await t.call('GET', '/v1/segments', undefined, { token: 'cdn_nope' })).status).toBe(401);
    const viewer = (await t.call('POST', '/v1/tokens', { role: 'viewer' })).body;
    expect(viewer).toMatchObject({ token: expect.stringMatching(/^cdn_/), expiresAt: expect.any(String) });
    const operator = (await t.call('POST', '/v1/tokens', { role: 'operator', ttl: '1h' })).body;
    expect(Date.parse(operator.expiresAt)).toBeGreaterThan(Date.now());
    expect((await t.call('GET', '/v1/segments', undefined, { token: viewer.token })).status).toBe(200);
    const denied = await t.call('POST', '/v1/apply', { documents: SITE }, { token: viewer.token });
    expect(denied.status).toBe(403);
    expect(denied.type).toMatch(/problem\+json/);
    expect((await t.call('POST', '/v1/apply', { documents: SITE }, { token: operator.token })).status).toBe(200);
    expect((await t.call('POST', '/v1/tokens', { role: 'viewer' }, { token: operator.token })).status).toBe(403);
    // Tokens are stored hashed only.
    const rows = await t.ctl.store.sql.query<{ hash: string }>('select hash from tokens');
    expect(rows.map((r) => r.hash)).not.toContain(viewer.token);
    expect(JSON.stringify(rows)).not.toContain(viewer.token);
  });

  it('makes one-time enrollment tokens', async () => {
    const r = await t.call('POST', '/v1/tokens', { kind: 'enrollment', ttl: '1h' });
    expect(r.status).toBe(201);
    const ms = Date.parse(r.body.expiresAt) - Date.now();
    expect(ms).toBeGreaterThan(59 * 60_000);
    expect(ms).toBeLessThanOrEqual(60 * 60_000);
    expect((await t.call('GET', '/v1/segments', undefined, { token: r.body.token })).status).toBe(401);
    expect((await t.call('GET', '/v1/enforcers')).body).toEqual({ items: [], nextCursor: null });
  });

  it('deletes a document and recompiles', async () => {
    const before = (await t.call('GET', '/v1/bundles/current')).body.generation;
    const r = await t.call('DELETE', '/v1/segments/lab');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ generation: before + 1, documents: [{ kind: 'Segment', name: 'lab', action: 'deleted' }] });
    expect((await t.call('GET', '/v1/segments/lab')).status).toBe(404);
    expect((await t.call('DELETE', '/v1/segments/lab')).status).toBe(404);
  });

  it('quarantines a device', async () => {
    const r = await t.call('POST', '/v1/quarantine', { device: 'cam-07', reason: 'test' });
    expect(r.status).toBe(200);
    const tr = await t.call('GET', '/v1/trace?from=cam-07&to=203.0.113.9&protocol=tcp&port=443');
    expect(tr.body.from.segment).toBe('quarantine');
    expect((await t.call('DELETE', '/v1/quarantine/cam-07')).status).toBe(200);
  });

  it('keeps a verifiable audit chain that notices a tampered and a removed row', async () => {
    const ok = await t.call('POST', '/v1/audit/verify');
    expect(ok.body).toMatchObject({ ok: true });
    expect(ok.body.entries).toBeGreaterThan(5);
    const exp = await t.call('GET', '/v1/audit/export');
    const lines = (exp.body as string).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(ok.body.entries);
    expect(lines.find((e) => e.action === 'apply')).toMatchObject({ actor: 'admin', source: expect.any(String), diff: { documents: expect.any(Array) } });

    await t.ctl.store.sql.query(`update audit set actor = 'mallory' where id = 3`);
    expect((await t.call('POST', '/v1/audit/verify')).body).toMatchObject({ ok: false, firstBadId: 3 });
    await t.ctl.store.sql.query(`update audit set actor = $1 where id = 3`, [lines[2].actor]);
    expect((await t.call('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
    await t.ctl.store.sql.query(`delete from audit where id = 4`);
    expect((await t.call('POST', '/v1/audit/verify')).body).toMatchObject({ ok: false, firstBadId: 4 });
  });
});
