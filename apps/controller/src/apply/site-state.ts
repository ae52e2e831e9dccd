/**
 * What the apply path keeps in memory between applies: every stored document,
 * the quarantine list, the identities, and an IncrementalCompiler holding the
 * compiled bundle of one generation. An apply changes it by the documents it
 * touches instead of re-reading and recompiling the whole site; when the
 * store's newest generation is not this one (another controller on the same
 * PostgreSQL applied, or a failed apply could not be undone exactly), it is
 * loaded afresh from the store.
 */
import type { Bundle } from '../compiler/compile';
import { IncrementalCompiler } from '../compiler/incremental';
import { hostPrefix, parseAddress, type Address } from '../policy/net';
import type { Document, Policy, PolicyTest, Segment, Device } from '../policy/schema';
import type { StoredDocument, StoreReader } from '../store/store';
import { docKey } from '../store/document-changes';

export { docKey } from '../store/document-changes';

export type Kind = Document['kind'];

/** Stored rows → documents as the compiler takes them. */
export function toDocument(d: { apiVersion: string; kind: string; name: string; labels?: Record<string, string> | null; spec: unknown }): Document {
  return {
    apiVersion: d.apiVersion,
    kind: d.kind,
    metadata: Object.keys(d.labels ?? {}).length ? { name: d.name, labels: d.labels } : { name: d.name },
    spec: d.spec,
  } as Document;
}

/** A parsed document in the shape it reads back from the store, so that memory and store never differ. */
export function normalize(d: Document): Document {
  return toDocument({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, labels: d.metadata.labels ?? {}, spec: d.spec });
}

/** Documents by kind, then name. */
export class DocumentSet {
  private readonly byKind = new Map<Kind, Map<string, Document>>();

  constructor(docs: Iterable<Document> = []) {
    for (const d of docs) this.set(d);
  }

  get(kind: string, name: string): Document | undefined {
    return this.byKind.get(kind as Kind)?.get(name);
  }

  set(d: Document) {
    let m = this.byKind.get(d.kind);
    if (!m) this.byKind.set(d.kind, (m = new Map()));
    m.set(d.metadata.name, d);
  }

  delete(kind: string, name: string): boolean {
    return this.byKind.get(kind as Kind)?.delete(name) ?? false;
  }

  of<K extends Kind>(kind: K): IterableIterator<Extract<Document, { kind: K }>> {
    return ((this.byKind.get(kind) ?? new Map()) as Map<string, Extract<Document, { kind: K }>>).values();
  }

  all(): Document[] {
    const out: Document[] = [];
    for (const m of this.byKind.values()) out.push(...m.values());
    return out;
  }

  get size(): number {
    let n = 0;
    for (const m of this.byKind.values()) n += m.size;
    return n;
  }
}

/** Device addresses, parsed once: who holds an address, and what each device's addresses are. */
export class DeviceAddresses {
  private readonly holders = new Map<string, Set<string>>();
  private readonly parsed = new Map<string, { addr: Address; host: string }[]>();

  constructor(devices: Iterable<Device>) {
    for (const d of devices) this.set(d);
  }

  set(d: Device) {
    this.remove(d.metadata.name);
    const list: { addr: Address; host: string }[] = [];
    for (const a of d.spec.addresses) {
      const addr = parseAddress(a);
      if (!addr) continue;
      const host = hostPrefix(addr).text;
      list.push({ addr, host });
      let s = this.holders.get(host);
      if (!s) this.holders.set(host, (s = new Set()));
      s.add(d.metadata.name);
    }
    this.parsed.set(d.metadata.name, list);
  }

  remove(name: string) {
    for (const { host } of this.parsed.get(name) ?? []) {
      const s = this.holders.get(host);
      s?.delete(name);
      if (s?.size === 0) this.holders.delete(host);
    }
    this.parsed.delete(name);
  }

  holdersOf(host: string): ReadonlySet<string> {
    return this.holders.get(host) ?? new Set();
  }

  entries(): IterableIterator<[string, { addr: Address; host: string }[]]> {
    return this.parsed.entries();
  }
}

export interface SiteState {
  /** The generation the compiler's bundle is for. */
  generation: number;
  /** Its hash. */
  hash: string;
  /** Whether the store holds this very bundle for `generation` (then the next one is stored as a delta from it). */
  storedMatches: boolean;
  docs: DocumentSet;
  quarantined: string[];
  /** Identities as stored (every one ever handed out). */
  identities: Record<string, number>;
  compiler: IncrementalCompiler;
  /** The resolvers of the stored bundle of `generation` (null: none stored), to see a change of --dns-resolver. */
  storedResolvers: readonly string[] | null;
  /** Built on first use (reference checks of devices). */
  addresses?: DeviceAddresses;
  /**
   * The stored stamp of each document held, by docKey ('' when not known: read
   * again): what catchUpSiteState compares with the store to read only what
   * changed (document-changes.ts).
   */
  stamps: Map<string, string>;
  /** The documents_version `stamps` are as of (-1: not known): changesSince then compares only what changed since. */
  documentsVersion: number;
}

/** Reads the whole site from the store (inside the change transaction) and compiles it, with the controller's default resolvers. */
export async function loadSiteState(tx: StoreReader, generation: number, defaultResolvers: readonly string[] = []): Promise<SiteState> {
  const rows: StoredDocument[] = await tx.documents.list();
  const docs = new DocumentSet(rows.map(toDocument));
  const all = await tx.documents.changesSince(new Map());
  const stamps = new Map(all.upsert.map((u) => [docKey(u.row.kind, u.row.name), u.stamp]));
  const quarantined = (await tx.quarantine.list()).map((q) => q.device);
  const identities = await tx.identities.all();
  const stored = generation ? await tx.getBundle(generation) : null;
  const prev = stored?.bundle as Bundle | undefined;
  // The previous generation's rules, so that each rule keeps its id (per-rule counters keep their meaning).
  const compiler = new IncrementalCompiler(docs.all(), { identities, generation, quarantined, rules: prev?.rules, defaultResolvers });
  return {
    generation,
    hash: compiler.bundle.hash,
    storedMatches: !!stored && stored.hash === compiler.bundle.hash,
    storedResolvers: prev ? (prev.dnsResolvers ?? []) : null,
    docs,
    quarantined,
    identities,
    compiler,
    stamps,
    documentsVersion: all.version,
  };
}

/**
 * Brings a site state at an older generation to `generation` (another
 * controller of the site applied meanwhile) by the documents that differ,
 * as an apply would, instead of compiling the whole site again. Null when the
 * result is not exactly the stored generation (several changes compiled as
 * one may number rules differently, say): the caller loads it afresh then.
 */
export async function catchUpSiteState(tx: StoreReader, site: SiteState, generation: number): Promise<SiteState | null> {
  const [stored] = await tx.generationChain(generation, generation);
  if (!stored || site.generation > generation) return null;
  const changes = await tx.documents.changesSince(site.stamps, site.documentsVersion);
  const remove = changes.remove as { kind: Kind; name: string }[];
  const upsert = changes.upsert.map((u) => ({ doc: toDocument(u.row), stamp: u.stamp }));
  const quarantined = (await tx.quarantine.list()).map((q) => q.device);
  const identities = await tx.identities.all();
  site.compiler.learnIdentities(identities);
  let bundle: Bundle;
  try {
    bundle = site.compiler.update({ upsert: upsert.map((u) => u.doc), remove, quarantined }, generation).bundle;
  } catch {
    return null;
  }
  if (bundle.hash !== stored.hash) return null;
  // The device addresses (reference checks) follow the documents, rather than being parsed again for all of them.
  for (const r of remove) {
    site.docs.delete(r.kind, r.name);
    site.stamps.delete(docKey(r.kind, r.name));
    if (r.kind === 'Device') site.addresses?.remove(r.name);
  }
  for (const u of upsert) {
    site.docs.set(u.doc);
    site.stamps.set(docKey(u.doc.kind, u.doc.metadata.name), u.stamp);
    if (u.doc.kind === 'Device') site.addresses?.set(u.doc);
  }
  return { ...site, generation, hash: bundle.hash, storedMatches: true, storedResolvers: bundle.dnsResolvers ?? [], quarantined, identities, documentsVersion: changes.version };
}

export type { Policy, PolicyTest, Segment, Device };
