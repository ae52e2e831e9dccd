/** Policy documents (Segment, Device, Policy, PolicyTest, PostureRule), with the in-memory copy of the whole set. */
import { SqlExecutor } from './sql';
import { decodeCursor, encodeCursor, iso } from './rows';
import type { DocumentKind, DocumentWrite, Page, StoredDocument } from './types';
import { diffDocuments, docKey, readDocumentChanges, splitDocKey, type DocumentChanges } from './document-changes';

function toDoc(r: Record<string, unknown>): StoredDocument {
  return {
    apiVersion: String(r.api_version),
    kind: r.kind as DocumentKind,
    name: String(r.name),
    labels: (r.labels as Record<string, string>) ?? {},
    spec: r.spec,
    version: Number(r.version),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/**
 * Every stored document, as of one documents_version (see migration 8): several
 * services re-read the whole set when the generation moves (21,000 rows, ~1 s
 * through PGlite at site scale); they now get it from memory, and a change
 * made through this store is folded in after it commits. A change made by
 * another controller is read by the documents' stamps (document-changes.ts):
 * only the documents it changed.
 */
interface DocumentSet {
  v: number;
  byKey: Map<string, StoredDocument>;
  /** Each document's stamp, by docKey ('' when not known: read again). */
  stamps: Map<string, string>;
  /** The docKeys changed from one version to the next, the last LOG_MAX steps: what changesSince(…, since) looks at. */
  log: { from: number; to: number; keys: string[] }[];
  sorted: StoredDocument[] | null;
}

/** The store's one copy of the document set, shared by its repositories and those of its transactions. */
export class DocumentCache {
  current: DocumentSet | null = null;

  /** Folds a committed transaction's document writes in, if the copy was current before it. */
  fold(w: DocumentWrites, after: number) {
    const c = this.current;
    if (!c || c.v !== w.before) {
      if (c && c.v < after) this.current = null;
      return;
    }
    for (const [kind, name] of w.remove) {
      c.byKey.delete(docKey(kind, name));
      c.stamps.delete(docKey(kind, name));
    }
    for (const d of w.upsert) {
      c.byKey.set(docKey(d.kind, d.name), d);
      c.stamps.set(docKey(d.kind, d.name), w.stamps.get(docKey(d.kind, d.name))?.stamp ?? '');
    }
    c.sorted = null;
    logStep(c, after, [...w.remove.map(([kind, name]) => docKey(kind, name)), ...w.upsert.map((d) => docKey(d.kind, d.name))]);
    c.v = after;
  }
}

const LOG_MAX = 64;

/** Notes in the log that `keys` changed from c.v to `to`. */
function logStep(c: DocumentSet, to: number, keys: string[]) {
  c.log.push({ from: c.v, to, keys });
  if (c.log.length > LOG_MAX) c.log.shift();
}

const byKindName = (a: StoredDocument, b: StoredDocument) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Document writes of one transaction, to fold into the cache once it commits. */
export interface DocumentWrites {
  /** documents_version before the first write. */
  before: number | null;
  upsert: StoredDocument[];
  remove: [string, string][];
  /** The stamp each document was last written with, by docKey. */
  stamps: Map<string, DocumentStamp>;
  /** documents_version once committed. */
  after?: number | null;
}

export const noDocumentWrites = (): DocumentWrites => ({ before: null, upsert: [], remove: [], stamps: new Map() });

/**
 * A document's stamp: its version and when it was created. The version alone
 * does not tell a document deleted and created again (both at version 1); its
 * creation time does (microseconds, as the table keeps it).
 */
const STAMP = "version::text || ' ' || (extract(epoch from created_at) * 1000000)::bigint::text";

/** A document's stamp as it was written in a transaction. */
export interface DocumentStamp {
  kind: string;
  name: string;
  stamp: string;
}

export async function documentsVersion(x: SqlExecutor): Promise<number> {
  const rows = await x.query<{ v: number | string }>('select v from documents_version');
  return Number(rows[0]?.v ?? 0);
}

export class DocumentRepository {
  constructor(
    private readonly x: SqlExecutor,
    private readonly cache: DocumentCache,
    /** Set inside a transaction: the document writes made in it (null outside: a write commits at once). */
    private readonly writes: DocumentWrites | null = null,
  ) {}

  async list(kind?: string): Promise<StoredDocument[]> {
    // A transaction that wrote documents sees its own writes: not the cache's business.
    if (this.ownWrites()) {
      const rows = kind
        ? await this.x.query('select * from documents where kind = $1 order by name', [kind])
        : await this.x.query('select * from documents order by kind, name');
      return rows.map(toDoc).sort(byKindName);
    }
    const c = await this.currentSet();
    c.sorted ??= [...c.byKey.values()].sort(byKindName);
    return kind ? c.sorted.filter((d) => d.kind === kind) : [...c.sorted];
  }

  /**
   * The documents changed since the ones held (their stamps by docKey; '': read
   * again): compared with the cache in memory, brought up to date first, so
   * the store is read once per change however many ask.
   */
  async changesSince(held: ReadonlyMap<string, string>, since = -1): Promise<DocumentChanges & { version: number }> {
    if (this.ownWrites()) return { ...(await readDocumentChanges(this, held)), version: -1 };
    const c = await this.currentSet();
    // Held as of a version the log goes back to: only the documents changed since are compared.
    const at = since === c.v ? c.log.length : c.log.findIndex((s) => s.from === since);
    if (since < 0 || at < 0) return { ...diffDocuments(held, c.stamps, c.byKey), version: c.v };
    const keys = new Set<string>();
    for (const s of c.log.slice(at)) for (const k of s.keys) keys.add(k);
    const out: DocumentChanges = { upsert: [], remove: [] };
    for (const k of keys) {
      const stamp = c.stamps.get(k);
      if (stamp === undefined) {
        if (held.has(k)) out.remove.push(splitDocKey(k));
      } else if (stamp === '' || held.get(k) !== stamp) out.upsert.push({ row: c.byKey.get(k)!, stamp });
    }
    return { ...out, version: c.v };
  }

  private ownWrites(): boolean {
    return !!this.writes && (this.writes.upsert.length > 0 || this.writes.remove.length > 0);
  }

  /** The cache at the store's documents_version: brought forward by what changed, or read whole. */
  private async currentSet(): Promise<DocumentSet> {
    // The version first: rows read after it are at least as new, so a cache is never labelled newer than it is.
    const v = await documentsVersion(this.x);
    let c = this.cache.current;
    if (!c || c.v !== v) {
      c = (c && c.v < v ? await this.caughtUp(c, v) : null) ?? (await this.readAll(v));
      if (!this.writes) this.cache.current = c;
      else if (!this.cache.current || this.cache.current.v < v) this.cache.current = c;
    }
    return c;
  }

  private async readAll(v: number): Promise<DocumentSet> {
    const rows = await this.x.query(`select *, ${STAMP} as stamp from documents`);
    const byKey = new Map<string, StoredDocument>();
    const stamps = new Map<string, string>();
    for (const r of rows) {
      const d = toDoc(r);
      byKey.set(docKey(d.kind, d.name), d);
      stamps.set(docKey(d.kind, d.name), String(r.stamp));
    }
    return { v, byKey, stamps, sorted: null, log: [] };
  }

  /**
   * The copy `c` brought to version `v` by the documents changed since (a copy:
   * `c` may be in use); null when no stamp moved although the documents did (a
   * write that left the version as it was, by hand say), or when most
   * documents changed (one read of them all is cheaper): read whole then.
   */
  private async caughtUp(c: DocumentSet, v: number): Promise<DocumentSet | null> {
    const changes = await readDocumentChanges(this, c.stamps, 0.25);
    if (!changes || (!changes.upsert.length && !changes.remove.length)) return null;
    const byKey = new Map(c.byKey);
    const stamps = new Map(c.stamps);
    for (const r of changes.remove) {
      byKey.delete(docKey(r.kind, r.name));
      stamps.delete(docKey(r.kind, r.name));
    }
    for (const u of changes.upsert) {
      byKey.set(docKey(u.row.kind, u.row.name), u.row);
      stamps.set(docKey(u.row.kind, u.row.name), u.stamp);
    }
    const next: DocumentSet = { v: c.v, byKey, stamps, sorted: null, log: [...c.log] };
    logStep(next, v, [...changes.remove.map((r) => docKey(r.kind, r.name)), ...changes.upsert.map((u) => docKey(u.row.kind, u.row.name))]);
    next.v = v;
    return next;
  }

  private async noteWrite() {
    if (this.writes && this.writes.before === null) this.writes.before = await documentsVersion(this.x);
  }

  async page(kind: string, limit: number, cursor?: string | null): Promise<Page<StoredDocument>> {
    const after = cursor ? decodeCursor(cursor) : '';
    const rows = await this.x.query(
      'select * from documents where kind = $1 and name > $2 order by name limit $3',
      [kind, after, limit + 1],
    );
    const items = rows.slice(0, limit).map(toDoc);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1].name) : null };
  }

  async get(kind: string, name: string): Promise<StoredDocument | null> {
    const rows = await this.x.query('select * from documents where kind = $1 and name = $2', [kind, name]);
    return rows.length ? toDoc(rows[0]) : null;
  }

  /** Every document's version and stamp: what a controller compares with what it holds, to read only what changed (document-changes.ts). */
  async versions(): Promise<{ kind: string; name: string; version: number; stamp: string }[]> {
    const rows = await this.x.query<{ kind: string; name: string; version: number; stamp: string }>(`select kind, name, version, ${STAMP} as stamp from documents`);
    return rows.map((r) => ({ kind: String(r.kind), name: String(r.name), version: Number(r.version), stamp: String(r.stamp) }));
  }

  /** The stamps of the documents this transaction wrote (the last write of each), so that what it wrote need not be read again. */
  written(): DocumentStamp[] {
    return [...(this.writes?.stamps.values() ?? [])];
  }
  /** Once this transaction committed: the documents_version before its first document write and after its last (null: none). */
  committedVersions(): { before: number; after: number } | null {
    const w = this.writes;
    return w && w.before !== null && typeof w.after === 'number' ? { before: w.before, after: w.after } : null;
  }

  private noteStamp(r: Record<string, unknown>) {
    this.writes?.stamps.set(docKey(String(r.kind), String(r.name)), { kind: String(r.kind), name: String(r.name), stamp: String(r.stamp) });
  }

  /** These documents (by kind and name), those that exist. */
  async getMany(keys: readonly { kind: string; name: string }[]): Promise<StoredDocument[]> {
    if (!keys.length) return [];
    const rows = await this.x.query('select d.* from documents d join unnest($1::text[], $2::text[]) k(kind, name) on d.kind = k.kind and d.name = k.name', [keys.map((k) => k.kind), keys.map((k) => k.name)]);
    return rows.map(toDoc);
  }

  async count(): Promise<Record<string, number>> {
    const rows = await this.x.query<{ kind: string; n: number }>('select kind, count(*)::int as n from documents group by kind');
    return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
  }

  async upsert(d: DocumentWrite): Promise<void> {
    await this.noteWrite();
    const rows = await this.x.query(
      `insert into documents (kind, name, api_version, labels, spec)
       values ($1, $2, $3, $4::jsonb, $5::jsonb)
       on conflict (kind, name) do update set
         api_version = excluded.api_version, labels = excluded.labels, spec = excluded.spec,
         version = documents.version + 1, updated_at = now()
       returning *, ${STAMP} as stamp`,
      [d.kind, d.name, d.apiVersion, JSON.stringify(d.labels ?? {}), JSON.stringify(d.spec ?? null)],
    );
    this.writes?.upsert.push(toDoc(rows[0]));
    this.noteStamp(rows[0]);
  }

  /** Several documents in one statement (an apply of a few thousand documents is one round trip). */
  async upsertMany(docs: readonly DocumentWrite[]): Promise<void> {
    // One statement per 1,000 documents: jsonb_to_recordset turns a JSON array into rows.
    if (docs.length) await this.noteWrite();
    for (let i = 0; i < docs.length; i += 1000) {
      const batch = docs.slice(i, i + 1000);
      const rows = batch.map((d) => ({ kind: d.kind, name: d.name, api_version: d.apiVersion, labels: d.labels ?? {}, spec: d.spec ?? null }));
      // Only the bookkeeping comes back: the documents themselves are what was sent.
      const back = await this.x.query<{ kind: string; name: string; version: number; created_at: unknown; updated_at: unknown; stamp: string }>(
        `insert into documents (kind, name, api_version, labels, spec)
         select kind, name, api_version, labels, spec
           from jsonb_to_recordset($1::jsonb) as x(kind text, name text, api_version text, labels jsonb, spec jsonb)
         on conflict (kind, name) do update set
           api_version = excluded.api_version, labels = excluded.labels, spec = excluded.spec,
           version = documents.version + 1, updated_at = now()
         returning kind, name, version, created_at, updated_at, ${STAMP} as stamp`,
        [JSON.stringify(rows)],
      );
      for (const r of back) this.noteStamp(r);
      if (this.writes) {
        const sent = new Map(batch.map((d) => [docKey(d.kind, d.name), d]));
        for (const r of back) {
          const d = sent.get(docKey(r.kind, r.name))!;
          // Through JSON like the table gives them back (undefined dropped), so the cache reads like the table.
          this.writes.upsert.push(toDoc({ ...r, api_version: d.apiVersion, labels: JSON.parse(JSON.stringify(d.labels ?? {})), spec: JSON.parse(JSON.stringify(d.spec ?? null)) }));
        }
      }
    }
  }

  async delete(kind: string, name: string): Promise<boolean> {
    await this.noteWrite();
    this.writes?.remove.push([kind, name]);
    this.writes?.stamps.delete(docKey(kind, name));
    const rows = await this.x.query('delete from documents where kind = $1 and name = $2 returning name', [kind, name]);
    return rows.length > 0;
  }
}
