/**
 * The published GenerationView is built from the one before and the documents
 * changed since (current-generation.ts): after every kind of change (creates,
 * updates, deletes, a document deleted and created again at the same version,
 * addresses two devices give, segments and posture rules changed) it must
 * equal the view built from every document, read afresh.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { firstValueFrom, filter } from 'rxjs';
import { makeScaleDocs, scalePolicy } from '../compiler/bench-compile';
import { IncrementalCompiler, type DocumentRef } from '../compiler/incremental';
import type { ControllerConfig } from '../config';
import { toDocument } from '../apply/site-state';
import type { Device, Document } from '../policy/schema';
import { openStore } from '../store/open';
import { DocumentCache, DocumentRepository } from '../store/documents.repository';
import type { DocumentWrite, SqlStore } from '../store/store';
import { BundleService } from './bundle.service';
import { CurrentGeneration } from './current-generation';
import { GenerationView } from './generation-view';

const SIZE = { segments: 6, devices: 24, policies: 10 };
const log = pino({ level: 'silent' });

const device = (name: string, addresses: string[], labels?: Record<string, string>): Device => ({
  apiVersion: 'cordon/v1',
  kind: 'Device',
  metadata: labels ? { name, labels } : { name },
  spec: { addresses },
});

/** Everything a feature reads of a view, in the order it would read it. */
function facts(v: GenerationView) {
  const ids = Object.values(v.bundle?.identities ?? {});
  return {
    generation: v.generation,
    docs: v.docs,
    names: [...ids, 1, 2, 99_999].map((id) => [id, v.identityName(id), v.segmentOf(id)]),
    rules: [...v.rules],
    policyOf: (v.bundle?.rules ?? []).map((r) => v.policyOf(r.ruleId)),
    deviceByAddress: [...v.deviceByAddress].sort(),
    deviceOf: [...[...v.deviceByAddress.keys()].sort(), '10.0.0.250', '10.0.1.010'].map((a) => v.deviceOf(a) ?? null),
    devices: [...v.devices],
    segmentOfDevice: [...v.segmentOfDevice],
    onAnomaly: [...v.devices.keys()].map((d) => v.onAnomaly(d)),
    segments: [...v.segments],
    postureRules: v.postureRules,
    deviceSince: [...v.deviceSince].sort(),
  };
}

describe('GenerationView brought forward by what changed', () => {
  let dir: string;
  let store: SqlStore;
  let bundles: BundleService;
  let current: CurrentGeneration;
  const docs = makeScaleDocs(SIZE);
  const inc = new IncrementalCompiler(docs, { identities: {}, generation: 1 });
  let generation = 1;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-view-'));
    store = await openStore({ dataDir: dir });
    await store.change(async (tx) => {
      for (const d of docs) await tx.documents.upsert({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, labels: d.metadata.labels ?? {}, spec: d.spec });
      await tx.insertBundle(1, inc.bundle.hash, inc.bundle);
    });
    bundles = new BundleService(store, { pollIntervalMs: 60_000 } as ControllerConfig, log);
    await bundles.onModuleInit();
    current = new CurrentGeneration(store, bundles, log);
    current.onModuleInit();
    await current.latest();
  });
  afterAll(async () => {
    current.onModuleDestroy();
    await bundles.onModuleDestroy();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Another controller's writes: the same table, not through this store's document cache. */
  const other = () => new DocumentRepository(store.sql, new DocumentCache());
  const write = (d: Document): DocumentWrite => ({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, labels: d.metadata.labels ?? {}, spec: d.spec });

  /** Writes a change as another controller would, publishes its generation, and compares with a view read afresh. */
  async function step(upsert: Document[], remove: DocumentRef[] = [], how: 'other' | 'deleted first' | 'own' = 'other') {
    const g = ++generation;
    const { bundle } = inc.update({ upsert, remove }, g);
    // deleted (and committed) before being written again: created anew, at version 1 again
    if (how === 'deleted first') for (const d of upsert) await other().delete(d.kind, d.metadata.name);
    if (how === 'own') {
      // this controller's own change: folded into its document cache, nothing read again
      await store.change(async (tx) => {
        for (const r of remove) await tx.documents.delete(r.kind, r.name);
        await tx.documents.upsertMany(upsert.map(write));
        await tx.insertBundle(g, bundle.hash, bundle);
      });
    } else {
      for (const r of remove) await other().delete(r.kind, r.name);
      if (upsert.length) await other().upsertMany(upsert.map(write));
      await store.change((tx) => tx.insertBundle(g, bundle.hash, bundle));
    }
    const getMany = jest.spyOn(store.documents, 'getMany');
    const seen = firstValueFrom(current.published$.pipe(filter((v) => v.generation === g)));
    bundles.announce(g);
    const view = await seen;
    // only what changed was read
    const read = getMany.mock.calls.flatMap((c) => c[0]);
    getMany.mockRestore();
    expect(read.length).toBe(how === 'own' ? 0 : upsert.length);

    const rows = await other().list();
    const since = new Map(rows.filter((d) => d.kind === 'Device').map((d) => [d.name, Date.parse(d.updatedAt)]));
    const afresh = new GenerationView(rows.map(toDocument), view.bundle, since);
    expect(facts(view)).toEqual(facts(afresh));
    return view;
  }

  it('equals the view read afresh after each change', async () => {
    const before = current.current;
    // a policy: devices' maps are the same ones
    const v = await step([scalePolicy(3, SIZE, 31000)]);
    expect(v.deviceByAddress).toBe(before.deviceByAddress);
    // a device's address and labels changed, a device created, one deleted
    await step([device('dev-00003', ['10.0.3.77', 'fd00:0:3::77'], { seg: 'seg-0002' }), device('dev-new', ['10.0.4.99'])], [{ kind: 'Device', name: 'dev-00005' }]);
    // an address two devices give (the later one by name owns it), then one of them changed and the other deleted
    await step([device('dev-aaa', ['10.0.1.10']), device('dev-zzz', ['10.0.1.10'])]);
    await step([device('dev-zzz', ['10.0.1.11'])]);
    await step([], [{ kind: 'Device', name: 'dev-aaa' }]);
    // the same address spelled twice by one device
    await step([device('dev-twice', ['10.0.2.200', '10.0.2.200/32'])]);
    // deleted, then created again with other addresses: between two generations, and within one (version 1 both times)
    await step([], [{ kind: 'Device', name: 'dev-new' }]);
    await step([device('dev-new', ['10.0.5.50'])]);
    await step([device('dev-new', ['10.0.5.51'])], [], 'deleted first');
    // this controller's own changes
    await step([device('dev-00007', ['10.0.1.77'])], [{ kind: 'Device', name: 'dev-00008' }], 'own');
    await step([scalePolicy(5, SIZE, 31001)], [], 'own');
    // a segment's CIDRs changed: devices may move segment
    const seg = docs.find((d) => d.kind === 'Segment' && d.metadata.name === 'seg-0001')!;
    await step([{ ...seg, spec: { ...seg.spec, cidrs: ['10.0.3.0/24'], onAnomaly: 'quarantine' } } as Document]);
    // a posture rule created, a policy deleted
    await step(
      [{ apiVersion: 'cordon/v1', kind: 'PostureRule', metadata: { name: 'fw' }, spec: { selector: { seg: 'seg-0002' }, require: { firmware: '>=1.0.0' }, onFailure: 'alert' } } as Document],
      [{ kind: 'Policy', name: 'pol-00004' }],
    );
  });
});
