import fc from 'fast-check';
import { Document, Policy } from '../policy/schema';
import { makeScaleDocs, scalePolicy } from './bench-compile';
import { compile } from './compile';
import { applyDelta, DeltaMismatchError, diffBundles } from '../../../../model/generation/delta';
import { bundleHash } from '../../../../model/generation/digest';
import { levelMisses } from '../../../../model/generation/patch';

const SMALL = { segments: 12, devices: 40, policies: 30 };

describe('diffBundles / applyDelta', () => {
  const base = makeScaleDocs(SMALL);
  const first = compile(base, { identities: {}, generation: 1 });

  it('a one-policy change is a small delta that applies back to the exact next bundle', () => {
    const docs = base.map((d) => (d.kind === 'Policy' && d.metadata.name === 'pol-00003' ? scalePolicy(3, SMALL, 9443) : d));
    const next = compile(docs, { identities: first.identities, generation: 2 });
    const delta = diffBundles(first, next);
    expect(delta).toMatchObject({ fromGeneration: 1, toGeneration: 2, ipcache: { upsert: [], remove: [] }, policy: { remove: [] } });
    expect(delta.policy.upsert).toEqual([expect.objectContaining({ port: 9443, portPrefixLen: 16 })]);
    expect(applyDelta(first, delta)).toEqual(next);
  });

  it('refuses a delta for another generation or that does not lead to its hash', () => {
    const next = compile(base.slice(1), { identities: first.identities, generation: 2 });
    const delta = diffBundles(first, next);
    expect(() => applyDelta(next, delta)).toThrow(DeltaMismatchError);
    expect(() => applyDelta(first, { ...delta, policy: { upsert: [], remove: [] } })).toThrow(/expected/);
  });

  it('round-trips for random removals, additions, quarantines and changes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(base.length - 1), { maxLength: 20 }),
        fc.uniqueArray(fc.nat(SMALL.policies + 10), { maxLength: 5 }),
        fc.uniqueArray(fc.nat(SMALL.devices - 1), { maxLength: 3 }),
        (drop, changed, quarantined) => {
          const dropSet = new Set(drop);
          const docs: Document[] = base.filter((_, i) => !dropSet.has(i)).map((d) => {
            const n = d.kind === 'Policy' ? Number(d.metadata.name.slice(4)) : -1;
            return changed.includes(n) ? scalePolicy(n, SMALL, 7000 + n) : d;
          });
          for (const n of changed) if (n >= SMALL.policies) docs.push(scalePolicy(n, SMALL) as Policy);
          const next = compile(docs, {
            identities: first.identities,
            generation: 5,
            quarantined: quarantined.map((j) => `dev-${String(j).padStart(5, '0')}`),
          });
          const out = applyDelta(first, diffBundles(first, next));
          return out.hash === next.hash && JSON.stringify(out.policy) === JSON.stringify(next.policy) && JSON.stringify(out.ipcache) === JSON.stringify(next.ipcache);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('applied one after another (patched in place, rehashed where touched) gives each bundle exactly', () => {
    const docsOf = (drop: number[], changed: number[]) => {
      const dropSet = new Set(drop);
      return base.filter((_, i) => !dropSet.has(i)).map((d) => {
        const n = d.kind === 'Policy' ? Number(d.metadata.name.slice(4)) : -1;
        return changed.includes(n) ? scalePolicy(n, SMALL, 7000 + n) : d;
      });
    };
    const misses = levelMisses.count;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uniqueArray(fc.nat(base.length - 1), { maxLength: 25 }), fc.uniqueArray(fc.nat(SMALL.policies - 1), { maxLength: 4 })), { minLength: 2, maxLength: 5 }),
        (steps) => {
          let prev = first;
          // as read back from the store: no levels kept with it, computed once
          let held = JSON.parse(JSON.stringify(first)) as typeof first;
          let g = 1;
          for (const [drop, changed] of steps) {
            const next = compile(docsOf(drop, changed), { identities: prev.identities, generation: ++g, rules: prev.rules });
            held = applyDelta(held, diffBundles(prev, next));
            if (held.hash !== next.hash || held.hash !== bundleHash(held)) return false;
            expect(held).toEqual(next);
            prev = next;
          }
          return true;
        },
      ),
      { numRuns: 30 },
    );
    // every hash came from the levels kept (the compiler's, or those of the bundle applied to), none from a full rehash
    expect(levelMisses.count).toBe(misses);
  });
});
