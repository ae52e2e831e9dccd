/**
 * The compiler as a long-lived state: documents in, then changes in, each
 * change giving the next bundle and the delta to it, at a cost that follows
 * the size of the change rather than the size of the site.
 *
 * What it keeps:
 *   - per policy: the identities of its `from` and `to`, its rules with their
 *     ids and port/type blocks (so a pair never re-parses a rule);
 *   - per identity pair: the policies covering it and its sorted entries, and
 *     per source identity the digest of its pairs (model/generation/digest.ts), so a change
 *     recompiles only the pairs of the policies it touches and rehashes only
 *     their sources;
 *   - the ipcache rows and their owners (see ipcache.ts);
 *   - rules by id, hashed in buckets of 256 ids.
 *
 * Determinism: the bundle is a function of the documents, the quarantine list
 * and the ids already handed out (identities, and rule ids when given), never
 * of the path taken: IncrementalCompiler(docs1).update(change) gives the same
 * bundle, hash included, as compile(docs2, { identities: history, rules:
 * previous rules }) (incremental.spec.ts checks it on random edit sequences).
 *
 * Rule ids are stable (rule-ids.ts); rules live in rule-table.ts, pairs and
 * their entries in pair-table.ts, one compiled policy in policy-state.ts.
 */
import { targetRefs, type Device, type Document, type Policy, type Segment } from '../policy/schema';
import type { PolicyEntry } from '../../../../native/lib/abi';
import type { Bundle, BundleDelta, RuleInfo } from '../../../../model/generation/bundle';
import { diffBundles } from '../../../../model/generation/delta';
import { canonicalRule, combineDigests, identitiesDigest } from '../../../../model/generation/digest';
import { rememberLevels } from '../../../../model/generation/patch';
import type { CompileChange, CompileOptions, CompileStep, DocumentRef } from './compile-options';
export type { CompileChange, CompileStep, DocumentRef } from './compile-options';
import { assignIdentities } from './identities';
import { fqdnNames, fqdnRefs, sameFqdnSet, segmentResolvers } from './fqdn-refs';
import { IpcacheState } from './ipcache';
import { compilePair } from './pair';
import { compilePolicy, type PolicyState } from './policy-state';
import { assignRuleIds, previousRuleIds, type PolicyRuleIds } from './rule-ids';
import { PairState, PairTable } from './pair-table';
import { RuleTable } from './rule-table';

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const COMPILED_KINDS = new Set(['Segment', 'Device', 'Policy']);

export class IncrementalCompiler {
  private segments = new Map<string, Segment>();
  private devices = new Map<string, Device>();
  private policies = new Map<string, PolicyState>();
  private quarantined = new Set<string>();
  private identities: Record<string, number> = {};
  private known: Record<string, number> = {};
  private ipc = new IpcacheState();

  private pairs = new PairTable();
  /** Segment name (known or not) -> policies naming it in from or to. */
  private refs = new Map<string, Set<string>>();
  private rules = new RuleTable();
  /** Rule ids held, by policy (what keeps a rule's id: its policy, action and index). */
  private ruleIds = new Map<string, PolicyRuleIds>();
  /** Blocks of a rule by what it matches: sites repeat the same few rules thousands of times. */
  private blocks = new Map<string, readonly number[]>();

  private generation = 0;
  private current!: Bundle;
  private idsDigestCache: string | null = null;
  private policyWarnings: string[] | null = null;
  /** Policies with warnings (few, usually none): all that the warnings list needs. */
  private warned = new Set<string>();
  /** CompileOptions.defaultResolvers: kept for every later generation of this compiler. */
  private defaultResolvers: readonly string[] = [];

  constructor(docs: readonly Document[], opts: CompileOptions) {
    this.reset(docs, opts);
  }

  /**
   * The bundle of the current state. Bundles are values: successive ones share
   * the arrays and entries that did not change, so never modify one in place.
   * Its `policy` list is built on first read (see materialize()).
   */
  get bundle(): Bundle {
    return this.current;
  }

  /**
   * Every identity handed out so far (those given to the constructor and every
   * one assigned since), segment names no longer present included: what a store
   * persists so that an id is never reused for another segment.
   */
  get identityHistory(): Record<string, number> {
    return { ...this.known };
  }

  /**
   * Identities another controller of the site handed out (the store's): a
   * segment that comes with a later change gets the number it was given there,
   * as a compiler built from the store would give it.
   */
  learnIdentities(stored: Readonly<Record<string, number>>): void {
    for (const [n, id] of Object.entries(stored)) if (!Object.hasOwn(this.identities, n)) this.known[n] = id;
  }

  /** The compiled documents (segments, devices, policies) as they stand. */
  documents(): Document[] {
    return [...this.segments.values(), ...this.devices.values(), ...[...this.policies.values()].map((p) => p.doc)];
  }

  /**
   * Applies a change and returns the next bundle (with `generation`) and the
   * delta from the previous one. Documents of kinds the compiler ignores
   * (PolicyTest, PostureRule) are ignored; an upsert equal to what is held is a no-op.
   */
  update(change: CompileChange, generation: number): CompileStep {
    const prev = this.current;
    const segUp = new Map<string, Segment | undefined>();
    const devUp = new Map<string, Device | undefined>();
    const polUp = new Map<string, Policy | undefined>();
    const same = (a: Document | undefined, b: Document | undefined) => a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b));
    for (const r of change.remove ?? []) {
      if (r.kind === 'Segment' && this.segments.has(r.name)) segUp.set(r.name, undefined);
      else if (r.kind === 'Device' && this.devices.has(r.name)) devUp.set(r.name, undefined);
      else if (r.kind === 'Policy' && this.policies.has(r.name)) polUp.set(r.name, undefined);
    }
    for (const d of change.upsert ?? []) {
      const n = d.metadata.name;
      if (d.kind === 'Segment') same(this.segments.get(n), d) ? segUp.delete(n) : segUp.set(n, d);
      else if (d.kind === 'Device') same(this.devices.get(n), d) ? devUp.delete(n) : devUp.set(n, d);
      else if (d.kind === 'Policy') same(this.policies.get(n)?.doc, d) ? polUp.delete(n) : polUp.set(n, d);
    }
    const quarantined = change.quarantined ? new Set(change.quarantined) : this.quarantined;

    if (polUp.size && !sameFqdnSet(this.identities, this.refs, polUp)) return this.rebuild(prev, segUp, devUp, polUp, quarantined, generation); // name selectors came or went: the slow path numbers them

    // Identities: only segments coming or going get or lose one.
    const added: string[] = [];
    const removed: string[] = [];
    for (const [n, d] of segUp) {
      if (d && !this.segments.has(n)) added.push(n);
      if (!d && this.segments.has(n)) removed.push(n);
    }
    let ids = this.identities;
    if (added.length || removed.length) {
      const names = [...this.segments.keys()].filter((n) => !removed.includes(n)).concat(added, fqdnNames(this.identities));
      ids = assignIdentities(names, this.known);
      // A corrupt history can move a kept segment's id; then nothing incremental holds.
      if (names.some((n) => this.segments.has(n) && ids[n] !== this.identities[n])) {
        return this.rebuild(prev, segUp, devUp, polUp, quarantined, generation);
      }
    }

    this.generation = generation;
    const idDelta: BundleDelta['identities'] = { upsert: {}, remove: [...removed].sort(cmpStr) };
    for (const n of added) idDelta.upsert[n] = ids[n];
    if (ids !== this.identities) {
      this.identities = ids;
      Object.assign(this.known, ids);
      this.idsDigestCache = null;
      this.ipc.setIdentities(ids);
    }

    // Policies: the changed ones, and those naming a segment that came or went.
    const recompile = new Map<string, Policy | undefined>(polUp);
    for (const n of [...added, ...removed]) {
      for (const pn of this.refs.get(n) ?? []) if (!recompile.has(pn)) recompile.set(pn, this.policies.get(pn)!.doc);
    }
    const dirtyPairs = new Set<PairState>();
    const ruleChanges = this.recompilePolicies(recompile, new Set(polUp.keys()), dirtyPairs);
    const policyDelta = this.recompilePairs(dirtyPairs);

    // Ipcache: segments first (they decide where devices go), then devices, then quarantine.
    for (const [n, d] of segUp) {
      if (d) {
        this.segments.set(n, d);
        this.ipc.upsertSegment(d);
      } else {
        this.segments.delete(n);
        this.ipc.removeSegment(n);
      }
    }
    for (const [n, d] of devUp) {
      if (d) {
        this.devices.set(n, d);
        this.ipc.upsertDevice(d);
      } else {
        this.devices.delete(n);
        this.ipc.removeDevice(n);
      }
    }
    if (quarantined !== this.quarantined) {
      this.quarantined = quarantined;
      this.ipc.setQuarantined(quarantined);
    }
    const ipcDelta = this.ipc.flush();

    const bundle = this.materialize();
    return {
      bundle,
      delta: {
        fromGeneration: prev.generation,
        toGeneration: generation,
        hash: bundle.hash,
        identities: idDelta,
        ipcache: ipcDelta,
        policy: policyDelta,
        rules: ruleChanges,
        warnings: bundle.warnings,
        ...(bundle.dnsResolvers ? { dnsResolvers: bundle.dnsResolvers } : {}),
      },
    };
  }

  /** Replaces the whole document set (and quarantine list): the change is worked out by comparing. */
  replaceDocuments(docs: readonly Document[], opts: { generation: number; quarantined?: readonly string[] }): CompileStep {
    const present = new Set<string>();
    const upsert: Document[] = [];
    for (const d of docs) {
      if (!COMPILED_KINDS.has(d.kind)) continue;
      present.add(`${d.kind}/${d.metadata.name}`);
      upsert.push(d);
    }
    const remove: DocumentRef[] = [];
    for (const n of this.segments.keys()) if (!present.has(`Segment/${n}`)) remove.push({ kind: 'Segment', name: n });
    for (const n of this.devices.keys()) if (!present.has(`Device/${n}`)) remove.push({ kind: 'Device', name: n });
    for (const n of this.policies.keys()) if (!present.has(`Policy/${n}`)) remove.push({ kind: 'Policy', name: n });
    return this.update({ upsert, remove, quarantined: opts.quarantined ?? [] }, opts.generation);
  }

  // ---- building -------------------------------------------------------------------

  private reset(docs: readonly Document[], opts: CompileOptions) {
    this.segments = new Map();
    this.devices = new Map();
    this.policies = new Map();
    this.pairs = new PairTable();
    this.refs = new Map();
    this.rules = new RuleTable();
    this.ruleIds = new Map();
    this.ipc = new IpcacheState();
    this.idsDigestCache = null;
    this.policyWarnings = null;
    this.warned = new Set();
    this.generation = opts.generation;
    this.defaultResolvers = opts.defaultResolvers ?? [];

    // A later document of the same kind and name replaces an earlier one.
    const policyDocs = new Map<string, Policy>();
    for (const d of docs) {
      if (d.kind === 'Segment') this.segments.set(d.metadata.name, d);
      else if (d.kind === 'Device') this.devices.set(d.metadata.name, d);
      else if (d.kind === 'Policy') policyDocs.set(d.metadata.name, d);
    }
    this.quarantined = new Set(opts.quarantined ?? []);
    this.identities = assignIdentities([...this.segments.keys(), ...fqdnRefs(policyDocs.values())], opts.identities);
    this.known = { ...opts.identities, ...this.identities };

    const { ids: prevIds, used } = previousRuleIds(opts.rules ?? []);
    const dirtyPairs = new Set<PairState>();
    this.recompilePolicies(policyDocs, new Set(policyDocs.keys()), dirtyPairs, { ids: prevIds, used });
    this.recompilePairs(dirtyPairs, true);

    this.ipc.setIdentities(this.identities);
    this.ipc.setQuarantined(this.quarantined);
    for (const s of this.segments.values()) this.ipc.upsertSegment(s);
    for (const d of this.devices.values()) this.ipc.upsertDevice(d);
    this.ipc.flush();
    this.materialize();
  }

  /** The slow path: a fresh build of the new document set, and a delta by comparison. */
  private rebuild(
    prev: Bundle,
    segUp: Map<string, Segment | undefined>,
    devUp: Map<string, Device | undefined>,
    polUp: Map<string, Policy | undefined>,
    quarantined: Set<string>,
    generation: number,
  ): CompileStep {
    const docs = new Map<string, Document>();
    for (const d of this.documents()) docs.set(`${d.kind}/${d.metadata.name}`, d);
    for (const [kind, up] of [['Segment', segUp], ['Device', devUp], ['Policy', polUp]] as const) {
      for (const [n, d] of up as Map<string, Document | undefined>) {
        if (d) docs.set(`${kind}/${n}`, d);
        else docs.delete(`${kind}/${n}`);
      }
    }
    const known = this.known;
    this.reset([...docs.values()], { identities: known, generation, quarantined: [...quarantined], rules: prev.rules, defaultResolvers: this.defaultResolvers });
    this.known = { ...known, ...this.identities };
    return { bundle: this.current, delta: diffBundles(prev, this.current) };
  }

  /**
   * Compiles the given policies (undefined: removed) and moves them between
   * pairs; `docChanged` names those whose rules may have changed (the others only
   * re-resolve segment names). `prev`: the previous generation's rule ids by
   * key and all the ids it held (default: the rules held now). Returns the rules
   * section of the delta.
   */
  private recompilePolicies(
    changes: Map<string, Policy | undefined>,
    docChanged: Set<string>,
    dirtyPairs: Set<PairState>,
    prev?: { ids: ReadonlyMap<string, PolicyRuleIds>; used: ReadonlySet<number> },
  ): BundleDelta['rules'] {
    const used = prev?.used;
    const prevIds = prev?.ids ?? this.ruleIds;
    if (changes.size === 0) return { upsert: [], remove: [] };
    const names = [...changes.keys()].sort(cmpStr);

    const newIds = assignRuleIds(names, changes, docChanged, { held: this.ruleIds, prev: prevIds, rules: this.rules, used });

    const upsert: RuleInfo[] = [];
    const removedIds = new Set<number>();
    for (const n of names) {
      const old = this.policies.get(n);
      const doc = changes.get(n);
      if (this.warned.delete(n)) this.policyWarnings = null;
      if (old) {
        this.forPairs(old, (src, dst) => {
          const pair = this.pairs.get(src, dst)!;
          pair.policies.delete(n);
          dirtyPairs.add(pair);
        });
        for (const ref of new Set([...old.doc.spec.from, ...targetRefs(old.doc.spec.to)])) {
          const set = this.refs.get(ref)!;
          set.delete(n);
          if (set.size === 0) this.refs.delete(ref);
        }
        for (const r of old.infos) {
          this.rules.delete(r.ruleId);
          removedIds.add(r.ruleId);
        }
      }
      if (!doc) {
        this.policies.delete(n);
        this.ruleIds.delete(n);
        continue;
      }
      const st = compilePolicy(doc, newIds.get(n)!, this.identities, this.blocks);
      this.policies.set(n, st);
      this.ruleIds.set(n, newIds.get(n)!);
      if (st.warnings.length) {
        this.warned.add(n);
        this.policyWarnings = null;
      }
      this.forPairs(st, (src, dst) => {
        const pair = this.pairs.getOrCreate(src, dst);
        pair.policies.add(n);
        dirtyPairs.add(pair);
      });
      for (const ref of new Set([...doc.spec.from, ...targetRefs(doc.spec.to)])) {
        let set = this.refs.get(ref);
        if (!set) this.refs.set(ref, (set = new Set()));
        set.add(n);
      }
      for (const r of st.infos) {
        const before = old?.infos.find((x) => x.ruleId === r.ruleId);
        if (!before || canonicalRule(before) !== canonicalRule(r)) upsert.push(r);
        removedIds.delete(r.ruleId);
        this.rules.set(r);
      }
    }
    // An id removed from one policy may have been kept by none and reused by another.
    for (const r of upsert) removedIds.delete(r.ruleId);
    upsert.sort((a, b) => a.ruleId - b.ruleId);
    this.rules.changed(upsert, removedIds);
    return { upsert, remove: [...removedIds].sort((a, b) => a - b) };
  }

  private forPairs(p: PolicyState, fn: (src: number, dst: number) => void) {
    if (p.rules.length === 0) return;
    for (const src of p.froms) for (const dst of p.tos) fn(src, dst);
  }

  /** Recompiles pairs and returns the policy section of the delta. */
  private recompilePairs(dirty: Set<PairState>, fresh = false): BundleDelta['policy'] {
    return this.pairs.recompile(dirty, (pair) => compilePair(pair.src, pair.dst, [...pair.policies].map((n) => this.policies.get(n)!.rules)), fresh);
  }

  // ---- output ---------------------------------------------------------------------

  private materialize(): Bundle {
    const policyList = this.pairs.list();
    this.idsDigestCache ??= identitiesDigest(this.identities);
    if (!this.policyWarnings) {
      this.policyWarnings = [];
      for (const n of [...this.warned].sort(cmpStr)) this.policyWarnings.push(...this.policies.get(n)!.warnings);
    }
    const dnsResolvers = segmentResolvers(this.segments.values(), this.defaultResolvers);
    const bundle: Bundle = {
      generation: this.generation,
      hash: combineDigests({ identities: this.idsDigestCache, ipcache: this.ipc.digest(), policy: this.pairs.digest(), rules: this.rules.digest(), dnsResolvers }),
      identities: this.identities,
      ipcache: this.ipc.entries(),
      policy: [] as PolicyEntry[],
      rules: this.rules.list(),
      warnings: [...this.ipc.warnings(), ...this.policyWarnings],
      ...(dnsResolvers ? { dnsResolvers } : {}),
    };
    // The flat policy list (100,000+ entries) is built when first read: an update that
    // is only streamed as a delta never pays for it. It reads as a plain property
    // (JSON, spread, deep equality); assigning to it replaces it.
    Object.defineProperty(bundle, 'policy', {
      enumerable: true,
      configurable: true,
      get: policyList,
      set(v: PolicyEntry[]) {
        Object.defineProperty(bundle, 'policy', { value: v, enumerable: true, configurable: true, writable: true });
      },
    });
    // Its digest tree, for applyDelta from it (the store reads the next generation back so).
    rememberLevels(bundle, { sources: this.pairs.sourceLevels(), rules: this.rules.bucketLevels(), ipcache: this.ipc.bucketLevels() });
    this.current = bundle;
    return bundle;
  }
}
