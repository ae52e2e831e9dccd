import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { diffBundles } from '../../../model/generation/delta';
import { bundleUpdate } from '../../../proto/cordon/v1/bundle';
import { controlService, type BundleUpdate } from '../../../proto/cordon/v1/control';
import { makeScaleDocs, scalePolicy } from '../../controller/src/compiler/bench-compile';
import { IncrementalCompiler } from '../../controller/src/compiler/incremental';
import { BundleKeeper, ResyncNeeded } from './bundle-keeper';

const SIZE = { segments: 5, devices: 10, policies: 8 };

/** Through the real protobuf encoding, as an enforcer receives it. */
function overTheWire(u: BundleUpdate): BundleUpdate {
  const m = controlService().WatchBundles;
  return m.responseDeserialize(m.responseSerialize(u)) as BundleUpdate;
}

describe('BundleKeeper: generations the controller compiled, received over the wire', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-keeper-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('builds the compiler\'s own generations from a snapshot and from deltas, and keeps them', () => {
    const inc = new IncrementalCompiler(makeScaleDocs(SIZE), { identities: {}, generation: 1 });
    const keeper = BundleKeeper.inDir(dir);
    const first = keeper.resolve(overTheWire(bundleUpdate(inc.bundle, null)));
    expect(first).toEqual(JSON.parse(JSON.stringify(inc.bundle)));
    keeper.commit(first);
    for (let g = 2; g <= 4; g++) {
      const { delta, bundle } = inc.update({ upsert: [scalePolicy(g, SIZE, 40000 + g)] }, g);
      const next = keeper.resolve(overTheWire(bundleUpdate(bundle, delta)));
      expect(next.hash).toBe(bundle.hash);
      expect(next).toEqual(JSON.parse(JSON.stringify(bundle)));
      keeper.commit(next);
    }
    // Kept across a restart.
    expect(BundleKeeper.inDir(dir).load()?.hash).toBe(inc.bundle.hash);
  });

  it('asks for a snapshot when what it builds does not give the update\'s digest', () => {
    const inc = new IncrementalCompiler(makeScaleDocs(SIZE), { identities: {}, generation: 1 });
    const keeper = BundleKeeper.inDir(dir);
    keeper.commit(keeper.resolve(overTheWire(bundleUpdate(inc.bundle, null))));
    const prev = inc.bundle;
    const { bundle } = inc.update({ upsert: [scalePolicy(1, SIZE, 41000)] }, 2);
    const delta = diffBundles(prev, bundle);
    delta.policy.upsert = delta.policy.upsert.map((e) => ({ ...e, ruleId: e.ruleId + 1 })); // altered on the way
    expect(() => keeper.resolve(overTheWire(bundleUpdate(bundle, delta)))).toThrow(ResyncNeeded);
    expect(() => keeper.resolve(overTheWire({ ...bundleUpdate(bundle, null), hash: 'f'.repeat(64) }))).toThrow(ResyncNeeded);
    // A delta on a generation it does not hold.
    expect(() => keeper.resolve(overTheWire(bundleUpdate(bundle, { ...diffBundles(prev, bundle), fromGeneration: 7 })))).toThrow(ResyncNeeded);
  });

  it('ignores a kept bundle.json whose content does not give its digest', () => {
    const inc = new IncrementalCompiler(makeScaleDocs(SIZE), { identities: {}, generation: 1 });
    const keeper = BundleKeeper.inDir(dir);
    keeper.commit(keeper.resolve(overTheWire(bundleUpdate(inc.bundle, null))));
    const file = path.join(dir, 'bundle.json');
    const kept = JSON.parse(fs.readFileSync(file, 'utf8'));
    kept.state.policy[0].verdict = kept.state.policy[0].verdict === 1 ? 2 : 1;
    fs.writeFileSync(file, JSON.stringify(kept));
    expect(BundleKeeper.inDir(dir).load()).toBeNull();
  });
});
