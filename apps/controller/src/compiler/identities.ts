/**
 * Numeric identities of segments. They are written into every enforcer's maps
 * and label flow counters, so a segment keeps its id for as long as it exists,
 * and an id still held by anyone is never handed to another segment.
 */
import { IDENTITY } from '../../../../native/lib/abi';

export const BUILTIN_IDENTITIES: Readonly<Record<string, number>> = {
  world: IDENTITY.WORLD,
  host: IDENTITY.HOST,
  quarantine: IDENTITY.QUARANTINE,
};

/**
 * Identities for `segmentNames` plus the built-ins. Names found in `existing`
 * with a valid user id keep it; new names (sorted, so the result does not
 * depend on input order) get the lowest ids >= 256 that no entry of
 * `existing` holds. Names absent from `segmentNames` are dropped from the result.
 */
export function assignIdentities(segmentNames: readonly string[], existing: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = { ...BUILTIN_IDENTITIES };
  const used = new Set<number>(Object.values(existing));
  const taken = new Set<number>();
  const names = [...new Set(segmentNames)].filter((n) => !Object.hasOwn(BUILTIN_IDENTITIES, n)).sort();
  const fresh: string[] = [];
  for (const name of names) {
    // hasOwn: a segment may be named `constructor`, which every plain object inherits.
    const id = Object.hasOwn(existing, name) ? existing[name] : -1;
    // A corrupt map (reserved id, or one id under two names) must not leak into
    // the datapath: the later name by sort order gets a new id.
    if (Number.isInteger(id) && id >= IDENTITY.FIRST_USER && id <= 0xffffffff && !taken.has(id)) {
      out[name] = id;
      taken.add(id);
    } else {
      fresh.push(name);
    }
  }
  let next: number = IDENTITY.FIRST_USER;
  for (const name of fresh) {
    while (used.has(next) || taken.has(next)) next++;
    out[name] = next;
    taken.add(next);
  }
  return out;
}
