import fc from 'fast-check';
import { assignIdentities } from './identities';

describe('assignIdentities', () => {
  it('gives built-ins their fixed ids and new segments ids from 256, sorted by name', () => {
    expect(assignIdentities(['b', 'a', 'c'], {})).toEqual({ world: 1, host: 2, quarantine: 3, a: 256, b: 257, c: 258 });
  });

  it('keeps existing ids and fills the lowest free ids without reusing any in the map', () => {
    const ids = assignIdentities(['a', 'new1', 'new2'], { a: 300, gone: 256, world: 1 });
    expect(ids).toEqual({ world: 1, host: 2, quarantine: 3, a: 300, new1: 257, new2: 258 });
  });

  it('repairs a corrupt map: reserved ids and duplicated ids are reassigned', () => {
    const ids = assignIdentities(['a', 'b', 'c'], { a: 3, b: 400, c: 400 });
    expect(ids.b).toBe(400);
    expect(ids.a).toBe(256);
    expect(ids.c).toBe(257);
  });

  it('is independent of input order, keeps every existing id, never duplicates', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z]{1,4}$/), { maxLength: 30 }), fc.integer({ min: 0, max: 30 }), (names, keep) => {
        const first = assignIdentities(names.slice(0, keep), {});
        const second = assignIdentities([...names].reverse(), first);
        const again = assignIdentities(names, first);
        const userIds = Object.entries(second).filter(([n]) => !['world', 'host', 'quarantine'].includes(n)).map(([, id]) => id);
        return (
          JSON.stringify(second) === JSON.stringify(again) &&
          names.slice(0, keep).every((n) => second[n] === first[n]) &&
          new Set(userIds).size === userIds.length &&
          userIds.every((id) => id >= 256)
        );
      }),
    );
  });
});
