import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import { replay } from '../../../../model/generation/delta';
import { SqlDatabase, SqlExecutor } from './sql';
import { MIGRATIONS } from './migrations';
import { canonicalJson, sha256Hex } from './canonical';
import { decodeJson, encodeJson, encodeJsonAsync, SNAPSHOT_EVERY } from './bundle-codec';
import {
  AuditEntry,
  AuditEntryInput,
  DocumentKind,
  DocumentWrite,
  EnforcerRecord,
  Page,
  QuarantineRecord,
  Role,
  StoredBundle,
  StoredDocument,
  TokenInsert,
  TokenKind,
  TokenRecord,
} from './types';

export * from './types';

/** The hash before the first audit entry. */
export const AUDIT_GENESIS = '0'.repeat(64);
/** NOTIFY channel carrying the new generation number after each committed change. */
export const GENERATION_CHANNEL = 'cordon_generation';
/** NOTIFY channel carrying the name of an enforcer just revoked, so every controller cuts its streams. */
export const REVOCATION_CHANNEL = 'cordon_enforcer_revoked';
/** Advisory lock key serialising every change (documents, bundles, audit) across controllers. */
const CHANGE_LOCK = 7470_7471;

export interface StoreReader {
  listDocuments(kind?: string): Promise<StoredDocument[]>;
  pageDocuments(kind: string, limit: number, cursor?: string | null): Promise<Page<StoredDocument>>;
  getDocument(kind: string, name: string): Promise<StoredDocument | null>;
  countDocuments(): Promise<Record<string, number>>;
  getIdentities(): Promise<Record<string, number>>;
  latestGeneration(): Promise<number>;
  getBundle(generation: number): Promise<StoredBundle | null>;
  latestBundle(): Promise<StoredBundle | null>;
  /**
   * Generations from..to as stored: each one's hash and the delta from the one
   * before it (null where a generation was stored as a snapshot only). What the
   * control channel forwards to an enforcer holding `from`.
   */
  generationChain(from: number, to: number): Promise<{ generation: number; hash: string; delta: BundleDelta | null }[]>;
  listQuarantined(): Promise<QuarantineRecord[]>;
  pageAudit(limit: number, afterId?: number): Promise<Page<AuditEntry>>;
  // Tokens are looked up by the sha256 of their secret; the secret itself is never stored.
  findApiToken(hash: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  /** Any token by the hash of its secret, whatever its state (revoked, expired, used). */
  getTokenByHash(hash: string): Promise<TokenRecord | null>;
  getToken(id: number): Promise<TokenRecord | null>;
  /** A one-time enrollment token that can still be spent (known, unused, unrevoked, unexpired). */
  findEnrollmentToken(hash: string): Promise<TokenRecord | null>;
  countTokens(role?: string): Promise<number>;
  listEnforcers(): Promise<EnforcerRecord[]>;
  getEnforcer(name: string): Promise<EnforcerRecord | null>;
}

export interface StoreWriter extends StoreReader {
  upsertDocument(doc: DocumentWrite): Promise<void>;
  /** Several documents in one statement (an apply of a few thousand documents is one round trip). */
  upsertDocuments(docs: readonly DocumentWrite[]): Promise<void>;
  deleteDocument(kind: string, name: string): Promise<boolean>;
  insertIdentities(ids: Record<string, number>): Promise<void>;
  /**
   * Stores a new generation. With `delta` (from the previous generation, whose
   * stored hash must be `delta.baseHash`) only the delta is written; without,
   * a full compressed snapshot. Either way getBundle() gives the whole bundle back.
   */
  insertBundle(generation: number, hash: string, bundle: Bundle, delta?: { delta: BundleDelta; baseHash: string } | null): Promise<void>;
  addQuarantine(device: string, reason: string | null, actor: string | null): Promise<boolean>;
  removeQuarantine(device: string): Promise<boolean>;
  /** Appends one hash-chained entry. Only call inside Store.change (it needs the lock). */
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  insertToken(t: TokenInsert): Promise<TokenRecord>;
  revokeToken(id: number): Promise<boolean>;
  /** Revokes every unrevoked bootstrap admin token; returns their ids. */
  revokeBootstrapTokens(): Promise<number[]>;
  /** Records a use of an API token (last_used_at = now). */
  touchToken(id: number): Promise<void>;
  /** Marks a one-time enrollment token used (by `usedBy`); null when unknown, used, revoked or expired. Atomic. */
  consumeEnrollmentToken(hash: string, usedBy?: string): Promise<TokenRecord | null>;
  /** Records a (re-)enrollment: clears `revoked`, sets the certificate serial. */
  upsertEnforcer(name: string, certSerial: string | null): Promise<EnforcerRecord>;
  setEnforcerCertSerial(name: string, certSerial: string): Promise<void>;
  /** Heartbeat/status from a connected enforcer. */
  recordEnforcerSeen(name: string, update: { generation?: number | null; status?: Record<string, unknown> }): Promise<void>;
  revokeEnforcer(name: string): Promise<boolean>;
  /** Tells every controller sharing the database that `generation` is committed (sent at COMMIT). */
  notifyGeneration(generation: number): Promise<void>;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** The first entry id found altered, removed or out of order. */
  firstBadId?: number;
  reason?: string;
}

export interface Store extends StoreWriter {
  readonly driver: 'pglite' | 'postgres';
  /** Runs fn in one transaction holding the cluster-wide change lock. */
  change<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T>;
  verifyAudit(): Promise<AuditVerifyResult>;
  exportAudit(onEntry: (e: AuditEntry) => void | Promise<void>): Promise<void>;
  /**
   * Spends an enrollment token on the enforcer name `name`, under the change lock,
   * so that two enrollments never both take one name. `refuse` says why the token
   * may not take the name (given the enforcer of that name, if any); a refusal
   * spends nothing. Unless the token replaces a live enforcer, the name is taken
   * at once (a row without certificate, revoked = false). The audit entry
   * (`enforcer.enroll`) is written in the same transaction.
   */
  claimEnrollment(hash: string, name: string, refuse: EnrollmentRefusal): Promise<EnrollmentClaim>;
  /** Calls cb with each generation announced by any controller (PostgreSQL only; else a no-op). */
  listenGenerations(cb: (generation: number) => void): Promise<() => Promise<void>>;
  /** Tells every controller sharing the database that an enforcer was revoked (PostgreSQL only; else a no-op). */
  notifyRevocation(enforcer: string): Promise<void>;
  /** Calls cb with each enforcer name revoked by any controller (PostgreSQL only; else a no-op). */
  listenRevocations(cb: (enforcer: string) => void): Promise<() => Promise<void>>;
  /** The underlying SQL, for tests and maintenance. */
  readonly sql: SqlExecutor;
  close(): Promise<void>;
}

/** Why `token` may not enroll as `name` (the enforcer of that name, if any), or null when it may. */
export type EnrollmentRefusal = (token: TokenRecord, name: string, existing: EnforcerRecord | null) => string | null;

export type EnrollmentClaim =
  | { ok: true; token: TokenRecord; existing: EnforcerRecord | null }
  | { ok: false; reason: 'unknown' }
  | { ok: false; reason: 'refused'; message: string };

// Not `instanceof Date`: PGlite may hand back Dates from another realm (see pglite.driver.ts).
const isDate = (v: unknown): v is Date => Object.prototype.toString.call(v) === '[object Date]';
const iso = (v: unknown): string => (isDate(v) ? new Date(v.getTime()).toISOString() : new Date(String(v)).toISOString());
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));

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

function toToken(r: Record<string, unknown>): TokenRecord {
  return {
    id: Number(r.id),
    kind: r.kind as TokenKind,
    role: r.role as TokenRecord['role'],
    name: String(r.name),
    createdAt: iso(r.created_at),
    expiresAt: isoOrNull(r.expires_at),
    usedAt: isoOrNull(r.used_at),
    revoked: Boolean(r.revoked),
    enforcer: (r.enforcer as string | null) ?? null,
    replace: Boolean(r.replace),
    usedBy: (r.used_by as string | null) ?? null,
    lastUsedAt: isoOrNull(r.last_used_at),
    bootstrap: Boolean(r.bootstrap),
  };
}

function toEnforcer(r: Record<string, unknown>): EnforcerRecord {
  return {
    name: String(r.name),
    enrolledAt: iso(r.enrolled_at),
    lastSeen: isoOrNull(r.last_seen),
    generation: r.generation === null || r.generation === undefined ? null : Number(r.generation),
    status: (r.status as Record<string, unknown>) ?? {},
    certSerial: (r.cert_serial as string | null) ?? null,
    revoked: Boolean(r.revoked),
  };
}

function toAudit(r: Record<string, unknown>): AuditEntry {
  return {
    id: Number(r.id),
    at: String(r.at),
    actor: String(r.actor),
    source: (r.source as string | null) ?? null,
    action: String(r.action),
    target: (r.target as string | null) ?? null,
    diff: r.diff ?? null,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

/** What the hash of an audit entry covers: every column but the hashes, in canonical JSON. */
export function auditEntryHash(prevHash: string, e: Omit<AuditEntry, 'prevHash' | 'hash'>): string {
  const row = { id: e.id, at: e.at, actor: e.actor, source: e.source, action: e.action, target: e.target, diff: e.diff ?? null };
  return sha256Hex(prevHash + canonicalJson(row));
}

/**
 * Whole bundles recently written or read, by generation. A generation's bundle
 * never changes once committed, so an entry never goes stale; bundles are
 * values (see compiler/incremental.ts), shared and never modified.
 */
export class BundleCache {
  private readonly items = new Map<number, StoredBundle>();
  constructor(private readonly size = 3) {}

  get(generation: number): StoredBundle | undefined {
    return this.items.get(generation);
  }

  put(b: StoredBundle) {
    this.items.set(b.generation, b);
    while (this.items.size > this.size) this.items.delete(Math.min(...this.items.keys()));
  }

  /** The newest cached generation at or below `generation`. */
  nearest(generation: number): StoredBundle | undefined {
    let best: StoredBundle | undefined;
    for (const b of this.items.values()) if (b.generation <= generation && (!best || b.generation > best.generation)) best = b;
    return best;
  }
}

/**
 * Every stored document, as of one documents_version (see migration 8): several
 * services re-read the whole set when the generation moves (21,000 rows, ~1 s
 * through PGlite at site scale); they now get it from memory, and a change
 * made through this store is folded in after it commits.
 */
interface DocumentCache {
  v: number;
  byKey: Map<string, StoredDocument>;
  sorted: StoredDocument[] | null;
}

const docCacheKey = (kind: string, name: string) => `${kind}\u0000${name}`;
const byKindName = (a: StoredDocument, b: StoredDocument) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Document writes of one transaction, to fold into the cache once it commits. */
interface DocumentWrites {
  /** documents_version before the first write. */
  before: number | null;
  upsert: StoredDocument[];
  remove: [string, string][];
}

/** Shared by a store and the repositories of its transactions. */
class Caches {
  bundles = new BundleCache();
  documents: DocumentCache | null = null;
}

/** A bundle written inside a transaction, cached once it commits; `snapshot`: write a snapshot of it after commit. */
interface PendingBundle {
  stored: StoredBundle;
  snapshot: boolean;
}

export const encodeCursor = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
export const decodeCursor = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');

class SqlRepo implements StoreWriter {
  /** pending: null outside a transaction (a write commits at once). */
  protected readonly bundleCache: BundleCache;

  constructor(
    protected readonly x: SqlExecutor,
    protected readonly caches: Caches,
    private readonly pending: PendingBundle[] | null = null,
    /** Set inside a transaction: the document writes made in it. */
    readonly docWrites: DocumentWrites | null = null,
  ) {
    this.bundleCache = caches.bundles;
  }

  private async documentsVersion(): Promise<number> {
    const rows = await this.x.query<{ v: number | string }>('select v from documents_version');
    return Number(rows[0]?.v ?? 0);
  }

  async listDocuments(kind?: string) {
    // A transaction that wrote documents sees its own writes: not the cache's business.
    if (this.docWrites && (this.docWrites.upsert.length || this.docWrites.remove.length)) {
      const rows = kind
        ? await this.x.query('select * from documents where kind = $1 order by name', [kind])
        : await this.x.query('select * from documents order by kind, name');
      return rows.map(toDoc).sort(byKindName);
    }
    // The version first: rows read after it are at least as new, so a cache is never labelled newer than it is.
    const v = await this.documentsVersion();
    let c = this.caches.documents;
    if (!c || c.v !== v) {
      const rows = (await this.x.query('select * from documents')).map(toDoc);
      c = { v, byKey: new Map(rows.map((d) => [docCacheKey(d.kind, d.name), d])), sorted: null };
      if (!this.docWrites) this.caches.documents = c;
      else if (!this.caches.documents || this.caches.documents.v < v) this.caches.documents = c;
    }
    c.sorted ??= [...c.byKey.values()].sort(byKindName);
    return kind ? c.sorted.filter((d) => d.kind === kind) : [...c.sorted];
  }

  private async noteWrite() {
    if (this.docWrites && this.docWrites.before === null) this.docWrites.before = await this.documentsVersion();
  }

  async pageDocuments(kind: string, limit: number, cursor?: string | null) {
    const after = cursor ? decodeCursor(cursor) : '';
    const rows = await this.x.query(
      'select * from documents where kind = $1 and name > $2 order by name limit $3',
      [kind, after, limit + 1],
    );
    const items = rows.slice(0, limit).map(toDoc);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1].name) : null };
  }

  async getDocument(kind: string, name: string) {
    const rows = await this.x.query('select * from documents where kind = $1 and name = $2', [kind, name]);
    return rows.length ? toDoc(rows[0]) : null;
  }

  async countDocuments() {
    const rows = await this.x.query<{ kind: string; n: number }>('select kind, count(*)::int as n from documents group by kind');
    return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
  }

  async upsertDocument(d: DocumentWrite) {
    await this.noteWrite();
    const rows = await this.x.query(
      `insert into documents (kind, name, api_version, labels, spec)
       values ($1, $2, $3, $4::jsonb, $5::jsonb)
       on conflict (kind, name) do update set
         api_version = excluded.api_version, labels = excluded.labels, spec = excluded.spec,
         version = documents.version + 1, updated_at = now()
       returning *`,
      [d.kind, d.name, d.apiVersion, JSON.stringify(d.labels ?? {}), JSON.stringify(d.spec ?? null)],
    );
    this.docWrites?.upsert.push(toDoc(rows[0]));
  }

  async upsertDocuments(docs: readonly DocumentWrite[]) {
    // One statement per 1,000 documents: jsonb_to_recordset turns a JSON array into rows.
    if (docs.length) await this.noteWrite();
    for (let i = 0; i < docs.length; i += 1000) {
      const batch = docs.slice(i, i + 1000);
      const rows = batch.map((d) => ({ kind: d.kind, name: d.name, api_version: d.apiVersion, labels: d.labels ?? {}, spec: d.spec ?? null }));
      // Only the bookkeeping comes back: the documents themselves are what was sent.
      const back = await this.x.query<{ kind: string; name: string; version: number; created_at: unknown; updated_at: unknown }>(
        `insert into documents (kind, name, api_version, labels, spec)
         select kind, name, api_version, labels, spec
           from jsonb_to_recordset($1::jsonb) as x(kind text, name text, api_version text, labels jsonb, spec jsonb)
         on conflict (kind, name) do update set
           api_version = excluded.api_version, labels = excluded.labels, spec = excluded.spec,
           version = documents.version + 1, updated_at = now()
         returning kind, name, version, created_at, updated_at`,
        [JSON.stringify(rows)],
      );
      if (this.docWrites) {
        const sent = new Map(batch.map((d) => [docCacheKey(d.kind, d.name), d]));
        for (const r of back) {
          const d = sent.get(docCacheKey(r.kind, r.name))!;
          // Through JSON like the table gives them back (undefined dropped), so the cache reads like the table.
          this.docWrites.upsert.push(toDoc({ ...r, api_version: d.apiVersion, labels: JSON.parse(JSON.stringify(d.labels ?? {})), spec: JSON.parse(JSON.stringify(d.spec ?? null)) }));
        }
      }
    }
  }

  async deleteDocument(kind: string, name: string) {
    await this.noteWrite();
    this.docWrites?.remove.push([kind, name]);
    const rows = await this.x.query('delete from documents where kind = $1 and name = $2 returning name', [kind, name]);
    return rows.length > 0;
  }

  async getIdentities() {
    const rows = await this.x.query<{ segment: string; id: number }>('select segment, id from identities');
    return Object.fromEntries(rows.map((r) => [r.segment, Number(r.id)]));
  }

  async insertIdentities(ids: Record<string, number>) {
    for (const [segment, id] of Object.entries(ids)) {
      await this.x.query('insert into identities (segment, id) values ($1, $2) on conflict (segment) do nothing', [segment, id]);
    }
  }

  async latestGeneration() {
    const rows = await this.x.query<{ g: number | null }>('select max(generation) as g from bundles');
    return rows[0]?.g == null ? 0 : Number(rows[0].g);
  }

  async getBundle(generation: number): Promise<StoredBundle | null> {
    const hit = this.bundleCache.get(generation);
    if (hit) return hit;
    const rows = await this.x.query('select generation, hash, created_at, bundle from bundles where generation = $1', [generation]);
    if (!rows.length) return null;
    const r = rows[0];
    const out: StoredBundle = { generation: Number(r.generation), hash: String(r.hash), createdAt: iso(r.created_at), bundle: r.bundle ?? (await this.rebuildBundle(generation, String(r.hash))) };
    this.bundleCache.put(out);
    return out;
  }

  async latestBundle() {
    const g = await this.latestGeneration();
    return g ? this.getBundle(g) : null;
  }

  async generationChain(from: number, to: number) {
    const rows = await this.x.query<{ generation: number; hash: string; delta: Uint8Array | null }>(
      'select generation, hash, delta from bundles where generation >= $1 and generation <= $2 order by generation',
      [from, to],
    );
    // The base's own delta (from the generation before it) is not needed.
    return rows.map((r) => ({ generation: Number(r.generation), hash: String(r.hash), delta: r.delta && Number(r.generation) > from ? decodeJson<BundleDelta>(r.delta) : null }));
  }

  /** A generation stored as a delta or a snapshot: the nearest base at or below it, then the deltas after it (see bundle-codec.ts). */
  private async rebuildBundle(generation: number, hash: string): Promise<Bundle> {
    const cached = this.bundleCache.nearest(generation);
    const bases = await this.x.query<{ generation: number; snapshot: boolean }>(
      `select generation, snapshot from (
         select generation, true as snapshot from bundle_snapshots where generation <= $1
         union all
         select generation, false as snapshot from bundles where generation <= $1 and bundle is not null
       ) b order by generation desc limit 1`,
      [generation],
    );
    let base: Bundle;
    if (cached && (!bases.length || cached.generation >= Number(bases[0].generation))) {
      base = cached.bundle as Bundle;
    } else if (bases.length && bases[0].snapshot) {
      const s = await this.x.query<{ data: Uint8Array }>('select data from bundle_snapshots where generation = $1', [bases[0].generation]);
      base = decodeJson<Bundle>(s[0].data);
    } else if (bases.length) {
      base = (await this.x.query<{ bundle: Bundle }>('select bundle from bundles where generation = $1', [bases[0].generation]))[0].bundle;
    } else {
      throw new Error(`bundle generation ${generation} has no snapshot at or below it: the bundles table is damaged`);
    }
    const rows = await this.x.query<{ generation: number; delta: Uint8Array | null }>(
      'select generation, delta from bundles where generation > $1 and generation <= $2 order by generation',
      [base.generation, generation],
    );
    const deltas = rows.map((r) => {
      if (!r.delta) throw new Error(`bundle generation ${r.generation} has neither a delta nor a snapshot: the bundles table is damaged`);
      return decodeJson<BundleDelta>(r.delta);
    });
    const out = replay(base, deltas);
    if (out.hash !== hash) throw new Error(`bundle generation ${generation} rebuilt with hash ${out.hash}, stored ${hash}`);
    return out;
  }

  async insertBundle(generation: number, hash: string, bundle: Bundle, base?: { delta: BundleDelta; baseHash: string } | null) {
    let delta = base?.delta ?? null;
    if (delta && (delta.fromGeneration !== generation - 1 || delta.toGeneration !== generation || delta.hash !== hash)) delta = null;
    if (delta) {
      // The delta is only worth keeping if the previous generation stored is the one it starts from.
      const prev = await this.x.query<{ hash: string }>('select hash from bundles where generation = $1', [generation - 1]);
      if (!prev.length || prev[0].hash !== base!.baseHash) delta = null;
    }
    const rows = await this.x.query<{ created_at: unknown }>('insert into bundles (generation, hash, delta) values ($1, $2, $3) returning created_at', [
      generation,
      hash,
      delta ? encodeJson(delta) : null,
    ]);
    let snapshot = false;
    if (!delta) {
      await this.x.query('insert into bundle_snapshots (generation, data) values ($1, $2)', [generation, encodeJson(bundle)]);
    } else {
      const last = await this.x.query<{ g: number | null }>(
        `select greatest((select max(generation) from bundle_snapshots), (select max(generation) from bundles where bundle is not null)) as g`,
      );
      snapshot = generation - Number(last[0]?.g ?? 0) >= SNAPSHOT_EVERY;
    }
    const p = { stored: { generation, hash, createdAt: iso(rows[0].created_at), bundle }, snapshot };
    if (this.pending) this.pending.push(p);
    else this.bundleCache.put(p.stored);
  }

  async listQuarantined() {
    const rows = await this.x.query('select * from quarantined order by device');
    return rows.map((r) => ({
      device: String(r.device),
      reason: (r.reason as string | null) ?? null,
      actor: (r.actor as string | null) ?? null,
      at: iso(r.at),
    }));
  }

  async addQuarantine(device: string, reason: string | null, actor: string | null) {
    const rows = await this.x.query(
      'insert into quarantined (device, reason, actor) values ($1, $2, $3) on conflict (device) do nothing returning device',
      [device, reason, actor],
    );
    return rows.length > 0;
  }

  async removeQuarantine(device: string) {
    const rows = await this.x.query('delete from quarantined where device = $1 returning device', [device]);
    return rows.length > 0;
  }

  async pageAudit(limit: number, afterId = 0) {
    const rows = await this.x.query('select * from audit where id > $1 order by id limit $2', [afterId, limit + 1]);
    const items = rows.slice(0, limit).map(toAudit);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1].id) : null };
  }

  async appendAudit(e: AuditEntryInput) {
    const head = await this.x.query<{ last_id: number; hash: string }>('select last_id, hash from audit_head');
    const prevHash = head.length ? String(head[0].hash) : AUDIT_GENESIS;
    const id = head.length ? Number(head[0].last_id) + 1 : 1;
    // The diff is hashed as it will read back from jsonb (which drops undefined and reorders keys).
    const diff = e.diff === undefined ? null : JSON.parse(JSON.stringify(e.diff));
    const entry = { id, at: new Date().toISOString(), actor: e.actor, source: e.source ?? null, action: e.action, target: e.target ?? null, diff };
    const hash = auditEntryHash(prevHash, entry);
    await this.x.query(
      `insert into audit (id, at, actor, source, action, target, diff, prev_hash, hash)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
      [id, entry.at, entry.actor, entry.source, entry.action, entry.target, JSON.stringify(diff), prevHash, hash],
    );
    await this.x.query(
      `insert into audit_head (one, last_id, hash) values (true, $1, $2)
       on conflict (one) do update set last_id = excluded.last_id, hash = excluded.hash`,
      [id, hash],
    );
    return { ...entry, prevHash, hash };
  }

  async findApiToken(hash: string) {
    const rows = await this.x.query(
      `select * from tokens where hash = $1 and kind = 'api' and not revoked
         and (expires_at is null or expires_at > now())`,
      [hash],
    );
    return rows.length ? toToken(rows[0]) : null;
  }

  async listTokens() {
    return (await this.x.query('select * from tokens order by id')).map(toToken);
  }

  async getTokenByHash(hash: string) {
    const rows = await this.x.query('select * from tokens where hash = $1', [hash]);
    return rows.length ? toToken(rows[0]) : null;
  }

  async getToken(id: number) {
    const rows = await this.x.query('select * from tokens where id = $1', [id]);
    return rows.length ? toToken(rows[0]) : null;
  }

  async findEnrollmentToken(hash: string) {
    const rows = await this.x.query(
      `select * from tokens where hash = $1 and kind = 'enrollment' and used_at is null and not revoked
         and (expires_at is null or expires_at > now())`,
      [hash],
    );
    return rows.length ? toToken(rows[0]) : null;
  }

  async revokeBootstrapTokens() {
    const rows = await this.x.query<{ id: number }>("update tokens set revoked = true where bootstrap and kind = 'api' and not revoked returning id");
    return rows.map((r) => Number(r.id));
  }

  async touchToken(id: number) {
    await this.x.query('update tokens set last_used_at = now() where id = $1', [id]);
  }

  async countTokens(role?: string) {
    const rows = role
      ? await this.x.query<{ n: number }>('select count(*)::int as n from tokens where role = $1 and not revoked', [role])
      : await this.x.query<{ n: number }>('select count(*)::int as n from tokens');
    return Number(rows[0].n);
  }

  async insertToken(t: TokenInsert) {
    const rows = await this.x.query(
      'insert into tokens (hash, kind, role, name, expires_at, enforcer, replace, bootstrap) values ($1, $2, $3, $4, $5, $6, $7, $8) returning *',
      [t.hash, t.kind, t.role, t.name, t.expiresAt ? t.expiresAt.toISOString() : null, t.enforcer ?? null, t.replace === true, t.bootstrap === true],
    );
    return toToken(rows[0]);
  }

  async revokeToken(id: number) {
    return (await this.x.query('update tokens set revoked = true where id = $1 returning id', [id])).length > 0;
  }

  async consumeEnrollmentToken(hash: string, usedBy?: string) {
    const rows = await this.x.query(
      `update tokens set used_at = now(), used_by = $2
        where hash = $1 and kind = 'enrollment' and used_at is null and not revoked
          and (expires_at is null or expires_at > now())
        returning *`,
      [hash, usedBy ?? null],
    );
    return rows.length ? toToken(rows[0]) : null;
  }

  async listEnforcers() {
    return (await this.x.query('select * from enforcers order by name')).map(toEnforcer);
  }

  async getEnforcer(name: string) {
    const rows = await this.x.query('select * from enforcers where name = $1', [name]);
    return rows.length ? toEnforcer(rows[0]) : null;
  }

  async upsertEnforcer(name: string, certSerial: string | null) {
    const rows = await this.x.query(
      `insert into enforcers (name, cert_serial) values ($1, $2)
       on conflict (name) do update set cert_serial = excluded.cert_serial, enrolled_at = now(), revoked = false
       returning *`,
      [name, certSerial],
    );
    return toEnforcer(rows[0]);
  }

  async setEnforcerCertSerial(name: string, certSerial: string) {
    await this.x.query('update enforcers set cert_serial = $2 where name = $1', [name, certSerial]);
  }

  async recordEnforcerSeen(name: string, u: { generation?: number | null; status?: Record<string, unknown> }) {
    await this.x.query(
      `update enforcers set last_seen = now(),
         generation = coalesce($2, generation),
         status = coalesce($3::jsonb, status)
       where name = $1`,
      [name, u.generation ?? null, u.status ? JSON.stringify(u.status) : null],
    );
  }

  async revokeEnforcer(name: string) {
    return (await this.x.query('update enforcers set revoked = true where name = $1 returning name', [name])).length > 0;
  }

  async notifyGeneration(generation: number) {
    await this.x.query('select pg_notify($1, $2)', [GENERATION_CHANNEL, String(generation)]);
  }
}

export class SqlStore extends SqlRepo implements Store {
  private snapshots: Promise<void> = Promise.resolve();

  constructor(private readonly db: SqlDatabase) {
    super(db, new Caches());
  }

  get driver() {
    return this.db.driver;
  }

  get sql(): SqlExecutor {
    return this.db;
  }

  /** Applies pending migrations; safe when several controllers start at once. */
  async migrate(): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [CHANGE_LOCK + 1]);
      await tx.query('create table if not exists schema_migrations (version integer primary key, name text, applied_at timestamptz not null default now())');
      const done = new Set((await tx.query<{ version: number }>('select version from schema_migrations')).map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await tx.exec(m.sql);
        await tx.query('insert into schema_migrations (version, name) values ($1, $2)', [m.version, m.name]);
      }
    });
  }

  async claimEnrollment(hash: string, name: string, refuse: EnrollmentRefusal): Promise<EnrollmentClaim> {
    return this.change(async (tx) => {
      const token = await tx.findEnrollmentToken(hash);
      if (!token) return { ok: false, reason: 'unknown' } as const;
      const existing = await tx.getEnforcer(name);
      const why = refuse(token, name, existing);
      if (why) return { ok: false, reason: 'refused', message: why } as const;
      const spent = await tx.consumeEnrollmentToken(hash, name);
      if (!spent) return { ok: false, reason: 'unknown' } as const;
      // A live enforcer being replaced keeps its row until its certificates are revoked; any other name is taken now.
      if (!existing || existing.revoked) await tx.upsertEnforcer(name, null);
      await tx.appendAudit({
        actor: `token:${spent.name}`,
        action: 'enforcer.enroll',
        target: name,
        diff: { token: spent.id, boundTo: spent.enforcer, replace: spent.replace && !!existing && !existing.revoked },
      });
      return { ok: true, token: spent, existing } as const;
    });
  }

  async change<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    const pending: PendingBundle[] = [];
    const writes: DocumentWrites = { before: null, upsert: [], remove: [] };
    let after: number | null = null;
    const out = await this.db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [CHANGE_LOCK]);
      const repo = new SqlRepo(tx, this.caches, pending, writes);
      const r = await fn(repo);
      if (writes.before !== null) after = Number((await tx.query<{ v: number }>('select v from documents_version'))[0].v);
      return r;
    });
    if (writes.before !== null) this.foldWrites(writes, after!);
    for (const p of pending) {
      this.bundleCache.put(p.stored);
      if (p.snapshot) this.snapshotLater(p.stored);
    }
    return out;
  }

  /** Folds a committed transaction's document writes into the cache, if the cache was current before it. */
  private foldWrites(w: DocumentWrites, after: number) {
    const c = this.caches.documents;
    if (!c || c.v !== w.before) {
      if (c && c.v < after) this.caches.documents = null;
      return;
    }
    for (const [kind, name] of w.remove) c.byKey.delete(docCacheKey(kind, name));
    for (const d of w.upsert) c.byKey.set(docCacheKey(d.kind, d.name), d);
    c.sorted = null;
    c.v = after;
  }

  /**
   * A snapshot after commit, so that no apply pays for serialising the whole
   * bundle; until it lands, reads fold a few more deltas. Any controller may
   * write one: they are all the same bytes' worth of bundle.
   */
  private snapshotLater(b: StoredBundle) {
    this.snapshots = this.snapshots
      .then(async () => {
        const data = await encodeJsonAsync(b.bundle);
        await this.db.query('insert into bundle_snapshots (generation, data) values ($1, $2) on conflict (generation) do nothing', [b.generation, data]);
      })
      .catch(() => undefined);
  }

  async verifyAudit(): Promise<AuditVerifyResult> {
    let prevHash = AUDIT_GENESIS;
    let expectId = 1;
    let entries = 0;
    let after = 0;
    for (;;) {
      const page = await this.pageAudit(500, after);
      for (const e of page.items) {
        if (e.id !== expectId) {
          return { ok: false, entries, firstBadId: Math.min(e.id, expectId), reason: e.id > expectId ? `entry ${expectId} is missing` : `entry ${e.id} is out of order` };
        }
        if (e.prevHash !== prevHash) {
          return { ok: false, entries, firstBadId: e.id, reason: `entry ${e.id} does not follow entry ${e.id - 1} (an entry before it was altered or removed)` };
        }
        if (auditEntryHash(prevHash, e) !== e.hash) {
          return { ok: false, entries, firstBadId: e.id, reason: `entry ${e.id} was altered: its content does not match its hash` };
        }
        prevHash = e.hash;
        expectId++;
        entries++;
      }
      if (!page.nextCursor) break;
      after = Number(page.nextCursor);
    }
    const head = await this.db.query<{ last_id: number; hash: string }>('select last_id, hash from audit_head');
    const headId = head.length ? Number(head[0].last_id) : 0;
    if (headId !== expectId - 1 || (head.length && head[0].hash !== prevHash)) {
      return { ok: false, entries, firstBadId: expectId, reason: `the log ends at entry ${expectId - 1} but its head records entry ${headId}: newest entries were removed or altered` };
    }
    return { ok: true, entries };
  }

  async exportAudit(onEntry: (e: AuditEntry) => void | Promise<void>) {
    let after = 0;
    for (;;) {
      const page = await this.pageAudit(500, after);
      for (const e of page.items) await onEntry(e);
      if (!page.nextCursor) return;
      after = Number(page.nextCursor);
    }
  }

  async listenGenerations(cb: (generation: number) => void) {
    if (!this.db.listen) return async () => undefined;
    return this.db.listen(GENERATION_CHANNEL, (p) => {
      const g = Number(p);
      if (Number.isInteger(g)) cb(g);
    });
  }

  async notifyRevocation(enforcer: string) {
    if (this.db.driver !== 'postgres') return;
    await this.db.query('select pg_notify($1, $2)', [REVOCATION_CHANNEL, enforcer]);
  }

  async listenRevocations(cb: (enforcer: string) => void) {
    if (!this.db.listen) return async () => undefined;
    return this.db.listen(REVOCATION_CHANNEL, cb);
  }

  async close() {
    await this.snapshots;
    return this.db.close();
  }
}
