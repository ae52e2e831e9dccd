/**
 * What changed in the store since a copy of its documents was read: the one
 * way a controller reads only what another controller (or itself) changed,
 * for the apply path's site (catchUpSiteState) and for the published
 * generation (CurrentGeneration), instead of every document again.
 *
 * Each held document has its stamp (documents.repository.ts: its version and
 * creation time, so a document deleted and created again is not taken for the
 * one held); one read of every stamp, then the documents whose stamp differs.
 */
import type { StoredDocument, StoreReader } from '../store/store';

export const docKey = (kind: string, name: string) => `${kind}/${name}`;

/** A docKey's kind and name (kinds hold no '/'). */
export function splitDocKey(key: string): { kind: string; name: string } {
  const i = key.indexOf('/');
  return { kind: key.slice(0, i), name: key.slice(i + 1) };
}

export interface DocumentChanges {
  /** Documents created or changed since, as stored now, each with the stamp to hold for it. */
  upsert: { row: StoredDocument; stamp: string }[];
  /** Held documents the store no longer has. */
  remove: { kind: string; name: string }[];
}

/**
 * The changes from the documents held (by docKey, each with its stamp; '' for
 * one whose stamp is not known: it is read again) to the store now. Outside a
 * transaction the two reads may straddle a change: a document gone by the
 * second read is removed; one changed again is held with the older stamp, so
 * the next call reads it again.
 */
export async function readDocumentChanges(tx: StoreReader, held: ReadonlyMap<string, string>): Promise<DocumentChanges> {
  const now = await tx.documents.versions();
  const present = new Set<string>();
  const changed: { kind: string; name: string; stamp: string }[] = [];
  for (const v of now) {
    const k = docKey(v.kind, v.name);
    present.add(k);
    if (held.get(k) !== v.stamp) changed.push(v);
  }
  const remove: { kind: string; name: string }[] = [];
  for (const k of held.keys()) if (!present.has(k)) remove.push(splitDocKey(k));
  const rows = changed.length ? await tx.documents.getMany(changed) : [];
  const byKey = new Map(rows.map((r) => [docKey(r.kind, r.name), r]));
  const upsert: DocumentChanges['upsert'] = [];
  for (const c of changed) {
    const k = docKey(c.kind, c.name);
    const row = byKey.get(k);
    if (row) upsert.push({ row, stamp: c.stamp });
    else if (held.has(k)) remove.push({ kind: c.kind, name: c.name });
  }
  return { upsert, remove };
}
