/**
 * What changed in the store since a copy of its documents was read: the one
 * way a controller reads only what another controller (or itself) changed,
 * for the store's document cache (documents.repository.ts), the apply path's
 * site (catchUpSiteState) and the published generation (CurrentGeneration),
 * instead of every document again.
 *
 * Each held document has its stamp (documents.repository.ts: its version and
 * creation time, so a document deleted and created again is not taken for the
 * one held); one read of every stamp, then the documents whose stamp differs.
 * The store's document cache reads so (readDocumentChanges), once per change;
 * the others compare what they hold with it (DocumentRepository.changesSince).
 */
import type { StoredDocument } from './types';

/** What it reads: every document's stamp, then the documents whose stamp differs. */
export interface DocumentReads {
  versions(): Promise<{ kind: string; name: string; stamp: string }[]>;
  getMany(keys: readonly { kind: string; name: string }[]): Promise<StoredDocument[]>;
}

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
export async function readDocumentChanges(docs: DocumentReads, held: ReadonlyMap<string, string>): Promise<DocumentChanges>;
/** …or null when more than `most` of the documents changed (reading them all at once is cheaper then). */
export async function readDocumentChanges(docs: DocumentReads, held: ReadonlyMap<string, string>, most: number): Promise<DocumentChanges | null>;
export async function readDocumentChanges(docs: DocumentReads, held: ReadonlyMap<string, string>, most = 1): Promise<DocumentChanges | null> {
  const now = await docs.versions();
  const present = new Set<string>();
  const changed: { kind: string; name: string; stamp: string }[] = [];
  for (const v of now) {
    const k = docKey(v.kind, v.name);
    present.add(k);
    if (held.get(k) !== v.stamp) changed.push(v);
  }
  if (changed.length > 256 && changed.length > now.length * most) return null;
  const remove: { kind: string; name: string }[] = [];
  for (const k of held.keys()) if (!present.has(k)) remove.push(splitDocKey(k));
  const rows = changed.length ? await docs.getMany(changed) : [];
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

/**
 * The changes from the documents held to a copy of the store's documents in
 * memory (its stamps and rows by docKey), as readDocumentChanges would read
 * them; a document of the copy whose stamp is not known counts as changed.
 */
export function diffDocuments(held: ReadonlyMap<string, string>, stamps: ReadonlyMap<string, string>, rows: ReadonlyMap<string, StoredDocument>): DocumentChanges {
  const upsert: DocumentChanges['upsert'] = [];
  for (const [k, stamp] of stamps) if (stamp === '' || held.get(k) !== stamp) upsert.push({ row: rows.get(k)!, stamp });
  const remove: { kind: string; name: string }[] = [];
  for (const k of held.keys()) if (!stamps.has(k)) remove.push(splitDocKey(k));
  return { upsert, remove };
}
