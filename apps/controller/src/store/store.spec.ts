import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore } from './open';
import { SqlStore } from './store';
import { startPostgres, TestPostgres } from '../../../../test/support/postgres';

describe.each(['pglite', 'postgres'] as const)('Store on %s', (driver) => {
  let store: SqlStore;
  let pg: TestPostgres | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-store-'));
    if (driver === 'postgres') pg = await startPostgres();
    store = await openStore({ dataDir: dir, databaseUrl: pg?.url });
  });
  afterAll(async () => {
    await store?.close();
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('upserts documents, bumping the version, and pages them', async () => {
    await store.change(async (tx) => {
      for (const n of ['a', 'b', 'c']) await tx.documents.upsert({ apiVersion: 'cordon/v1', kind: 'Segment', name: n, labels: {}, spec: { cidrs: [] } });
      await tx.documents.upsert({ apiVersion: 'cordon/v1', kind: 'Segment', name: 'a', labels: { x: 'y' }, spec: { cidrs: ['10.0.0.0/8'] } });
    });
    const a = await store.documents.get('Segment', 'a');
    expect(a).toMatchObject({ version: 2, labels: { x: 'y' }, spec: { cidrs: ['10.0.0.0/8'] } });
    const p1 = await store.documents.page('Segment', 2);
    expect(p1.items.map((d) => d.name)).toEqual(['a', 'b']);
    const p2 = await store.documents.page('Segment', 2, p1.nextCursor);
    expect(p2).toMatchObject({ items: [{ name: 'c' }], nextCursor: null });
  });

  it('chains audit entries and notices tampering and removal', async () => {
    await store.change(async (tx) => {
      for (let i = 0; i < 4; i++) await tx.audit.append({ actor: 't', action: 'apply', target: `x${i}`, diff: { n: i, nested: { b: 1, a: [1, 'z'] } } });
    });
    expect(await store.audit.verify()).toEqual({ ok: true, entries: 4 });
    await store.sql.query(`update audit set actor = 'mallory' where id = 2`);
    expect(await store.audit.verify()).toMatchObject({ ok: false, firstBadId: 2 });
    await store.sql.query(`update audit set actor = 't' where id = 2`);
    await store.sql.query(`delete from audit where id = 3`);
    expect(await store.audit.verify()).toMatchObject({ ok: false, firstBadId: 3 });
  });

  it('consumes an enrollment token once', async () => {
    await store.tokens.insert({ hash: 'h1', kind: 'enrollment', role: 'enforcer', name: 'e', expiresAt: new Date(Date.now() + 60_000) });
    expect(await store.tokens.consumeEnrollment('h1')).toMatchObject({ name: 'e' });
    expect(await store.tokens.consumeEnrollment('h1')).toBeNull();
  });
});
