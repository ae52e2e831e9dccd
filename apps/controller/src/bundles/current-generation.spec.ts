import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { firstValueFrom, filter } from 'rxjs';
import { applyDelta } from '../../../../model/generation/delta';
import { makeScaleDocs, scalePolicy } from '../compiler/bench-compile';
import { IncrementalCompiler } from '../compiler/incremental';
import type { ControllerConfig } from '../config';
import { openStore } from '../store/open';
import type { SqlStore } from '../store/store';
import { BundleService } from './bundle.service';
import { CurrentGeneration } from './current-generation';

const SIZE = { segments: 4, devices: 8, policies: 6 };
const log = pino({ level: 'silent' });

describe('CurrentGeneration over a real store (PGlite)', () => {
  let dir: string;
  let store: SqlStore;
  let bundles: BundleService;
  let current: CurrentGeneration;
  const inc = new IncrementalCompiler(makeScaleDocs(SIZE), { identities: {}, generation: 1 });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-current-'));
    store = await openStore({ dataDir: dir });
    const docs = makeScaleDocs(SIZE);
    await store.change(async (tx) => {
      for (const d of docs) await tx.documents.upsert({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, labels: d.metadata.labels ?? {}, spec: d.spec });
      await tx.insertBundle(1, inc.bundle.hash, inc.bundle);
    });
    bundles = new BundleService(store, { pollIntervalMs: 60_000 } as ControllerConfig, log);
    await bundles.onModuleInit();
    current = new CurrentGeneration(store, bundles, log);
    current.onModuleInit();
  });
  afterAll(async () => {
    current.onModuleDestroy();
    await bundles.onModuleDestroy();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes each generation once, with its names and devices', async () => {
    const v1 = await current.latest();
    expect(v1.generation).toBe(1);
    expect(v1.bundle?.hash).toBe(inc.bundle.hash);
    const [name, id] = Object.entries(inc.bundle.identities).find(([n]) => n.startsWith('seg-'))!;
    expect(current.segmentOf(id)).toBe(name);
    expect(current.segmentOf(1)).toBe('world');
    expect(current.segmentOf(99_999)).toBe('unknown');
    expect(v1.identityName(99_999)).toBe('identity-99999');
    const rule = inc.bundle.rules[0];
    expect(current.policyOf(rule.ruleId)).toBe(rule.policy);
    expect(current.policyOf(0)).toBeNull();
    const device = makeScaleDocs(SIZE).find((d) => d.kind === 'Device')!;
    expect(v1.deviceOf((device.spec as { addresses: string[] }).addresses[0])).toBe(device.metadata.name);
    // Asked again without a new generation: the same published view, nothing re-read.
    expect(await current.latest()).toBe(v1);
  });

  it('forwards the stored deltas to an enforcer at a stored base, and nothing otherwise', async () => {
    const b1 = inc.bundle;
    for (const g of [2, 3]) {
      const prev = inc.bundle;
      const { delta, bundle } = inc.update({ upsert: [scalePolicy(g, SIZE, 30000 + g)] }, g);
      await store.change((tx) => tx.insertBundle(g, bundle.hash, bundle, { delta, baseHash: prev.hash }));
      const seen = firstValueFrom(current.published$.pipe(filter((v) => v.generation === g)));
      bundles.announce(g);
      await seen;
    }
    const b3 = current.current.bundle!;
    expect(b3.generation).toBe(3);

    // Two stored deltas, folded: applied to generation 1 they give generation 3 (applyDelta checks the digest).
    const d = await current.deltaTo(b3, { generation: 1, hash: b1.hash });
    expect(d).toMatchObject({ fromGeneration: 1, toGeneration: 3, hash: b3.hash });
    expect(applyDelta(b1, d!)).toEqual(JSON.parse(JSON.stringify(b3)));
    // Shared by every enforcer at that base: read once.
    expect(await current.deltaTo(b3, { generation: 1, hash: b1.hash })).toBe(d);
    // A base with another hash, a generation not stored, or none: a snapshot goes instead.
    expect(await current.deltaTo(b3, { generation: 1, hash: 'f'.repeat(64) })).toBeNull();
    expect(await current.deltaTo(b3, { generation: 0, hash: '' })).toBeNull();
    expect(await current.deltaTo(b3, { generation: 3, hash: b3.hash })).toBeNull();
  });
});
