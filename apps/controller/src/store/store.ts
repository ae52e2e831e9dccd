/**
 * The store: one database (PGlite embedded, or PostgreSQL with --database-url),
 * one repository per aggregate (*.repository.ts) over it or over one locked
 * transaction (change()), and the generations' bundles, kept here.
 */
import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import { replay } from '../../../../model/generation/delta';
import { SqlDatabase, SqlExecutor } from './sql';
import { migrate } from './migrations';
import { decodeJson, encodeJson, encodeJsonAsync, SNAPSHOT_EVERY } from './bundle-codec';
import { AuditRepository } from './audit.repository';
import { CredentialRepository } from './credentials.repository';
import { MudProposalRepository } from './mud-proposals.repository';
import { DocumentCache, DocumentRepository, DocumentWrites, documentsVersion, noDocumentWrites } from './documents.repository';
import { EnforcerRepository } from './enforcers.repository';
import { LearnedNamesRepository } from './learned-names.repository';
import { IdentityRepository } from './identities.repository';
import { IncidentRepository } from './incidents.repository';
import { Notifications, notifyGeneration } from './notifications';
import { QuarantineRepository } from './quarantine.repository';
import { iso } from './rows';
import { SecurityEventRepository } from './security-events.repository';
import { TokenRepository } from './tokens.repository';
import { PlaintextTallyRepository } from './plaintext-tallies.repository';
import { UnknownDeviceRepository } from './unknown-devices.repository';
import { ObservedFlowRepository } from './observed-flows.repository';
import { BaselineRepository } from './baselines.repository';
import { StoredBundle } from './types';

export * from './types';
export { AUDIT_GENESIS, auditEntryHash, type AuditVerifyResult } from './audit.repository';
export { GENERATION_CHANNEL, REVOCATION_CHANNEL } from './notifications';

/** Advisory lock key serialising every change (documents, bundles, audit) across controllers. */
const CHANGE_LOCK = 7470_7471;

/** One repository per aggregate, over the store's connection or over one transaction's. */
export interface Repositories {
  readonly documents: DocumentRepository;
  readonly identities: IdentityRepository;
  readonly quarantine: QuarantineRepository;
  /** Appends only inside Store.change (they need the lock). */
  readonly audit: AuditRepository;
  readonly tokens: TokenRepository;
  readonly enforcers: EnforcerRepository;
  readonly credentials: CredentialRepository;
  readonly securityEvents: SecurityEventRepository;
  readonly mudProposals: MudProposalRepository;
  readonly incidents: IncidentRepository;
  readonly learnedNames: LearnedNamesRepository;
}

export interface StoreReader extends Repositories {
  latestGeneration(): Promise<number>;
  getBundle(generation: number): Promise<StoredBundle | null>;
  latestBundle(): Promise<StoredBundle | null>;
  /**
   * Generations from..to as stored: each one's hash and the delta from the one
   * before it (null where a generation was stored as a snapshot only). What the
   * control channel forwards to an enforcer holding `from`.
   */
  generationChain(from: number, to: number): Promise<{ generation: number; hash: string; delta: BundleDelta | null }[]>;
}

export interface StoreWriter extends StoreReader {
  /**
   * Stores a new generation. With `delta` (from the previous generation, whose
   * stored hash must be `delta.baseHash`) only the delta is written; without,
   * a full compressed snapshot. Either way getBundle() gives the whole bundle back.
   */
  insertBundle(generation: number, hash: string, bundle: Bundle, delta?: { delta: BundleDelta; baseHash: string } | null): Promise<void>;
  /** Tells every controller sharing the database that `generation` is committed (sent at COMMIT). */
  notifyGeneration(generation: number): Promise<void>;
}

export interface Store extends StoreWriter {
  readonly driver: 'pglite' | 'postgres';
  /** Runs fn in one transaction holding the cluster-wide change lock. */
  change<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T>;
  /** NOTIFY/LISTEN between controllers sharing PostgreSQL (no-ops on PGlite). */
  readonly notifications: Notifications;
  /** Monitoring state written behind, one transaction a flush of their own (not under the change lock: the deltas commute). */
  readonly unknownDevices: UnknownDeviceRepository;
  readonly plaintextTallies: PlaintextTallyRepository;
  readonly observedFlows: ObservedFlowRepository;
  readonly baselines: BaselineRepository;
  /** The underlying SQL, for tests and maintenance. */
  readonly sql: SqlExecutor;
  close(): Promise<void>;
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

/** Shared by a store and the repositories of its transactions. */
class Caches {
  bundles = new BundleCache();
  documents = new DocumentCache();
}

/** A bundle written inside a transaction, cached once it commits; `snapshot`: write a snapshot of it after commit. */
interface PendingBundle {
  stored: StoredBundle;
  snapshot: boolean;
}

class SqlRepo implements StoreWriter {
  /** pending: null outside a transaction (a write commits at once). */
  protected readonly bundleCache: BundleCache;
  readonly documents: DocumentRepository;
  readonly identities: IdentityRepository;
  readonly quarantine: QuarantineRepository;
  readonly audit: AuditRepository;
  readonly tokens: TokenRepository;
  readonly enforcers: EnforcerRepository;
  readonly credentials: CredentialRepository;
  readonly securityEvents: SecurityEventRepository;
  readonly mudProposals: MudProposalRepository;
  readonly incidents: IncidentRepository;
  readonly learnedNames: LearnedNamesRepository;

  constructor(
    protected readonly x: SqlExecutor,
    protected readonly caches: Caches,
    private readonly pending: PendingBundle[] | null = null,
    /** Set inside a transaction: the document writes made in it. */
    docWrites: DocumentWrites | null = null,
  ) {
    this.bundleCache = caches.bundles;
    this.documents = new DocumentRepository(x, caches.documents, docWrites);
    this.identities = new IdentityRepository(x);
    this.quarantine = new QuarantineRepository(x);
    this.audit = new AuditRepository(x);
    this.tokens = new TokenRepository(x);
    this.enforcers = new EnforcerRepository(x);
    this.credentials = new CredentialRepository(x);
    this.securityEvents = new SecurityEventRepository(x);
    this.mudProposals = new MudProposalRepository(x);
    this.incidents = new IncidentRepository(x);
    this.learnedNames = new LearnedNamesRepository(x);
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

  /** A generation stored as a delta or a snapshot: the nearest base at or below it, then the deltas after it (see bundle-codec.ts). */
  async generationChain(from: number, to: number) {
    const rows = await this.x.query<{ generation: number; hash: string; delta: Uint8Array | null }>(
      'select generation, hash, delta from bundles where generation >= $1 and generation <= $2 order by generation',
      [from, to],
    );
    // The base's own delta (from the generation before it) is not needed.
    return rows.map((r) => ({ generation: Number(r.generation), hash: String(r.hash), delta: r.delta && Number(r.generation) > from ? decodeJson<BundleDelta>(r.delta) : null }));
  }

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

  async notifyGeneration(generation: number) {
    await notifyGeneration(this.x, generation);
  }
}

export class SqlStore extends SqlRepo implements Store {
  private snapshots: Promise<void> = Promise.resolve();
  readonly notifications: Notifications;
  readonly unknownDevices: UnknownDeviceRepository;
  readonly plaintextTallies: PlaintextTallyRepository;
  readonly observedFlows: ObservedFlowRepository;
  readonly baselines: BaselineRepository;

  constructor(private readonly db: SqlDatabase) {
    super(db, new Caches());
    this.notifications = new Notifications(db);
    this.unknownDevices = new UnknownDeviceRepository(db);
    this.plaintextTallies = new PlaintextTallyRepository(db);
    this.observedFlows = new ObservedFlowRepository(db);
    this.baselines = new BaselineRepository(db);
  }

  get driver() {
    return this.db.driver;
  }

  get sql(): SqlExecutor {
    return this.db;
  }

  /** Applies pending migrations; safe when several controllers start at once. */
  migrate(): Promise<void> {
    return migrate(this.db, CHANGE_LOCK + 1);
  }

  async change<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    const pending: PendingBundle[] = [];
    const writes = noDocumentWrites();
    let after: number | null = null;
    const out = await this.db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [CHANGE_LOCK]);
      const repo = new SqlRepo(tx, this.caches, pending, writes);
      const r = await fn(repo);
      if (writes.before !== null) after = await documentsVersion(tx);
      return r;
    });
    if (writes.before !== null) {
      writes.after = after;
      this.caches.documents.fold(writes, after!);
    }
    for (const p of pending) {
      this.bundleCache.put(p.stored);
      if (p.snapshot) this.snapshotLater(p.stored);
    }
    return out;
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

  async close() {
    await this.snapshots;
    return this.db.close();
  }
}
