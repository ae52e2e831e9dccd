import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeScaleDocs, scalePolicy } from '../compiler/bench-compile';
import type { Bundle } from '../compiler/compile';
import { IncrementalCompiler } from '../compiler/incremental';
import { startPostgres, TestPostgres } from '../../../../test/support/postgres';
import { SNAPSHOT_EVERY } from './bundle-codec';
import { openStore } from './open';
import { SqlStore } from './store';

const SIZE = { segments: 6, devices: 12, policies: 10 };

describe.each(['pglite', 'postgres'] as const)('bundles and the document cache on %s', (driver) => {
  let pg: TestPostgres | undefined;
  let dir: string;
  let url: string | undefined;
  const open = () => openStore({ dataDir: dir, databaseUrl: url });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bundles-'));
    if (driver === 'postgres') {
      pg = await startPostgres();
      url = await pg.createDatabase('bundles');
    }
  });
  afterAll(async () => {
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores deltas and snapshots, and gives every generation back whole (from a cold store too)', async () => {
    const store: SqlStore = await open();
    const inc = new IncrementalCompiler(makeScaleDocs(SIZE), { identities: {}, generation: 1 });
    const bundles: Bundle[] = [inc.bundle];
    await store.change((tx) => tx.insertBundle(1, inc.bundle.hash, inc.bundle));
    const last = SNAPSHOT_EVERY + 12;
    for (let g = 2; g <= last; g++) {
      const prev = inc.bundle;
      const { delta, bundle } = inc.update({ upsert: [scalePolicy(g % SIZE.policies, SIZE, 20000 + g)] }, g);
      bundles.push(bundle);
      // Generation 7 claims a wrong base: it must be stored whole instead.
      const baseHash = g === 7 ? 'f'.repeat(64) : prev.hash;
      await store.change((tx) => tx.insertBundle(g, bundle.hash, bundle, { delta, baseHash }));
    }
    expect((await store.latestBundle())?.bundle).toBe(bundles[last - 1]);
    await store.close();

    const cold = await open();
    const snaps = (await cold.sql.query<{ generation: number }>('select generation from bundle_snapshots order by generation')).map((r) => Number(r.generation));
    expect(snaps[0]).toBe(1);
    expect(snaps).toContain(7);
    expect(snaps.some((g) => g > 7)).toBe(true); // written after commit, SNAPSHOT_EVERY after 7
    const deltas = await cold.sql.query<{ n: number }>('select count(*)::int as n from bundles where delta is not null');
    expect(Number(deltas[0].n)).toBe(last - 2);
    for (const g of [last, 1, 2, 6, 7, 8, 30, last - 1]) {
      expect((await cold.getBundle(g))?.bundle).toEqual(bundles[g - 1]);
    }
    expect((await cold.latestBundle())?.generation).toBe(last);
    await cold.close();
  });

  it('keeps documents in memory, folding committed changes in and noticing writes made behind its back', async () => {
    const store = await open();
    const doc = (name: string, cidr: string) => ({ apiVersion: 'cordon/v1', kind: 'Segment', name, labels: {}, spec: { cidrs: [cidr] } });
    await store.change((tx) => tx.documents.upsertMany([doc('a', '10.0.0.0/24'), doc('b', '10.0.1.0/24')]));
    expect((await store.documents.list()).map((d) => d.name)).toEqual(['a', 'b']);
    await store.change(async (tx) => {
      await tx.documents.upsertMany([doc('c', '10.0.2.0/24'), doc('a', '10.0.9.0/24')]);
      await tx.documents.delete('Segment', 'b');
      // Inside, the transaction sees its own writes.
      expect((await tx.documents.list()).map((d) => d.name)).toEqual(['a', 'c']);
    });
    const after = await store.documents.list('Segment');
    expect(after.map((d) => [d.name, d.version, (d.spec as { cidrs: string[] }).cidrs[0]])).toEqual([
      ['a', 2, '10.0.9.0/24'],
      ['c', 1, '10.0.2.0/24'],
    ]);
    // A rolled-back change leaves it as it was.
    await expect(
      store.change(async (tx) => {
        await tx.documents.upsertMany([doc('z', '10.0.3.0/24')]);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect((await store.documents.list()).map((d) => d.name)).toEqual(['a', 'c']);
    await store.sql.query(`update documents set spec = '{"cidrs": ["10.7.0.0/16"]}'::jsonb where name = 'c'`);
    expect(((await store.documents.list()).find((d) => d.name === 'c')?.spec as { cidrs: string[] }).cidrs).toEqual(['10.7.0.0/16']);
    await store.close();
  });
});
