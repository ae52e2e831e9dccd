/**
 * How bundles are kept in the store (migration 8): each generation's row holds
 * the gzipped delta from the generation before it; gzipped full snapshots sit
 * in bundle_snapshots (the first generation, any generation written without a
 * delta base, and one every SNAPSHOT_EVERY generations, written after commit).
 * Rows from before migration 8 hold the whole bundle as jsonb and count as
 * snapshots.
 *
 * Reading generation g back: the nearest base at or below g (a bundle already
 * in memory, a snapshot or a jsonb row), then every delta after it up to g,
 * folded into one delta and applied once: one sort and one hash whatever the
 * chain's length, and the hash is checked against the row's.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Bundle } from '../compiler/compile';
import { applyDelta, type BundleDelta, type PolicyKeyRef } from '../compiler/delta';
import { entryInnerKey } from '../compiler/keys';

/** A snapshot at least this often (in generations), so a read never folds a long chain. */
export const SNAPSHOT_EVERY = 50;

const gzip = promisify(zlib.gzip);
// Level 1: a site-scale bundle (16 MB of JSON) packs to ~1 MB in ~70 ms; level 6 saves 13% for 60% more time.
const GZIP = { level: 1 };

export function encodeJson(v: unknown): Buffer {
  return zlib.gzipSync(JSON.stringify(v), GZIP);
}

/** Off the event loop's thread, for snapshots written after commit. */
export async function encodeJsonAsync(v: unknown): Promise<Buffer> {
  return gzip(JSON.stringify(v), GZIP);
}

export function decodeJson<T>(data: Uint8Array): T {
  return JSON.parse(zlib.gunzipSync(data).toString('utf8')) as T;
}

const policyKey = (e: PolicyKeyRef) => `${e.srcIdentity}/${e.dstIdentity}/${entryInnerKey(e)}`;

/**
 * Folds consecutive deltas (each from the generation before it) into one from
 * the first's base to the last's result: the later change of a key wins, a
 * removal included. Applying it does what applying them one by one does.
 */
export function foldDeltas(deltas: readonly BundleDelta[]): BundleDelta {
  if (deltas.length === 1) return deltas[0];
  const ids = new Map<string, number | null>();
  const ipc = new Map<string, BundleDelta['ipcache']['upsert'][number] | null>();
  const pol = new Map<string, { ref: PolicyKeyRef; entry: BundleDelta['policy']['upsert'][number] | null }>();
  const rules = new Map<number, BundleDelta['rules']['upsert'][number] | null>();
  for (let i = 0; i < deltas.length; i++) {
    const d = deltas[i];
    if (i > 0 && d.fromGeneration !== deltas[i - 1].toGeneration) {
      throw new Error(`bundle delta chain broken: generation ${deltas[i - 1].toGeneration} then a delta from ${d.fromGeneration}`);
    }
    for (const n of d.identities.remove) ids.set(n, null);
    for (const [n, id] of Object.entries(d.identities.upsert)) ids.set(n, id);
    for (const c of d.ipcache.remove) ipc.set(c, null);
    for (const e of d.ipcache.upsert) ipc.set(e.cidr, e);
    for (const r of d.policy.remove) pol.set(policyKey(r), { ref: r, entry: null });
    for (const e of d.policy.upsert) pol.set(policyKey(e), { ref: e, entry: e });
    for (const id of d.rules.remove) rules.set(id, null);
    for (const r of d.rules.upsert) rules.set(r.ruleId, r);
  }
  const last = deltas[deltas.length - 1];
  const out: BundleDelta = {
    fromGeneration: deltas[0].fromGeneration,
    toGeneration: last.toGeneration,
    hash: last.hash,
    identities: { upsert: {}, remove: [] },
    ipcache: { upsert: [], remove: [] },
    policy: { upsert: [], remove: [] },
    rules: { upsert: [], remove: [] },
    warnings: last.warnings,
  };
  for (const [n, id] of ids) id === null ? out.identities.remove.push(n) : (out.identities.upsert[n] = id);
  for (const [c, e] of ipc) e === null ? out.ipcache.remove.push(c) : out.ipcache.upsert.push(e);
  for (const { ref, entry } of pol.values()) entry === null ? out.policy.remove.push(ref) : out.policy.upsert.push(entry);
  for (const [id, r] of rules) r === null ? out.rules.remove.push(id) : out.rules.upsert.push(r);
  return out;
}

/** The bundle of the last delta's generation, from the bundle of the first one's base. */
export function replay(base: Bundle, deltas: readonly BundleDelta[]): Bundle {
  if (deltas.length === 0) return base;
  return applyDelta(base, foldDeltas(deltas));
}
