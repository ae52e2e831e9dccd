/**
 * The compiler as a long-lived state: documents in, then changes in, each
 * change giving the next bundle and the delta to it, at a cost that follows
 * the size of the change rather than the size of the site.
 *
 * What it keeps:
 *   - per policy: the identities of its `from` and `to`, its rules with their
 *     ids and port/type blocks (so a pair never re-parses a rule);
 *   - per identity pair: the policies covering it and its sorted entries, and
 *     per source identity the digest of its pairs (see model/generation/digest.ts), so a change
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
 * Rule ids are stable: a rule (policy, allow|deny, index) keeps the id it had
 * in the previous generation; new rules get, in (policy, action, index) order,
 * the lowest ids the previous generation did not hold. So per-rule counters keep
 * their meaning across generations, and a one-policy change does not renumber
 * every later policy.
 */
import type { PolicyEntry } from '../../../../native/lib/abi';
import type { Device, Document, Policy, Segment } from '../policy/schema';
import type { Bundle, BundleDelta, PolicyKeyRef, RuleInfo } from '../../../../model/generation/bundle';
import { diffBundles } from '../../../../model/generation/delta';
import { canonicalRule, combineDigests, identitiesDigest, policyDigest, RULE_BUCKET, ruleBucketDigest, rulesDigest, sourceDigest } from '../../../../model/generation/digest';
import { compareInnerKeys, entryInnerKey, policyKeyRef } from '../../../../model/generation/keys';
import type { CompileOptions } from './compile-options';
import { assignIdentities } from './identities';
import { IpcacheState } from './ipcache';
import { ruleKeys } from './keys';
import { compilePair, CompiledRule, RANK_ALLOW, RANK_AUDIT_DENY, RANK_DENY, sameDecision } from './pair';

export interface DocumentRef {
  kind: Document['kind'];
  name: string;
}

export interface CompileChange {
  /** Documents created or replaced (by kind and name). */
  upsert?: readonly Document[];
  remove?: readonly DocumentRef[];
  /** The whole new quarantine list; omitted: unchanged. */
  quarantined?: readonly string[];
}

export interface CompileStep {
  bundle: Bundle;
  delta: BundleDelta;
}

interface PolicyState {
  doc: Policy;
  froms: number[];
  tos: number[];
  rules: CompiledRule[];
  infos: RuleInfo[];
  warnings: string[];
}

interface PairState {
  key: string;
  src: number;
  dst: number;
  policies: Set<string>;
  entries: PolicyEntry[];
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const cmpPair = (a: { src: number; dst: number }, b: { src: number; dst: number }) => a.src - b.src || a.dst - b.dst;
const pairKey = (src: number, dst: number) => `${src}/${dst}`;
/** Rule ids of one policy, by action and index. */
interface PolicyRuleIds {
  allow: number[];
  deny: number[];
}
const validRuleId = (id: unknown): id is number => Number.isInteger(id) && (id as number) >= 1 && (id as number) <= 0xffffffff;
const COMPILED_KINDS = new Set(['Segment', 'Device', 'Policy']);

export class IncrementalCompiler {
  private segments = new Map<string, Segment>();
  private devices = new Map<string, Device>();
  private policies = new Map<string, PolicyState>();
  private quarantined = new Set<string>();
  private identities: Record<string, number> = {};
  private known: Record<string, number> = {};
  private ipc = new IpcacheState();

  private pairs = new Map<string, PairState>();
  private sortedPairs: PairState[] = [];
  /** Segment name (known or not) -> policies naming it in from or to. */
  private refs = new Map<string, Set<string>>();
  private rulesById = new Map<number, RuleInfo>();
  /** Rule ids held, by policy (what keeps a rule's id: its policy, action and index). */
  private ruleIds = new Map<string, PolicyRuleIds>();
  private ruleBuckets = new Map<number, string>();
  /** Blocks of a rule by what it matches: sites repeat the same few rules thousands of times. */
  private blocks = new Map<string, readonly number[]>();

  private generation = 0;
  private current!: Bundle;
  /** The current policy list, built on first read (null: the pairs changed since). */
  private policyList: (() => PolicyEntry[]) | null = null;
  private policyDigestCache: string | null = null;
  /** Digest of each source identity's pairs (see model/generation/digest.ts). */
  private sourceDigests = new Map<number, string>();
  private rulesCache: RuleInfo[] | null = null;
  /** Rule changes not yet merged into rulesCache (null: sort it afresh). */
  private ruleEdits: { upsert: RuleInfo[]; remove: Set<number> } | null = null;
  /** The highest rule id held: when every id up to it is held, the next free one is just above. */
  private maxRuleId = 0;
  private rulesDigestCache: string | null = null;
  private idsDigestCache: string | null = null;
  private policyWarnings: string[] | null = null;
  /** Policies with warnings (few, usually none): all that the warnings list needs. */
  private warned = new Set<string>();

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

    // Identities: only segments coming or going get or lose one.
    const added: string[] = [];
    const removed: string[] = [];
    for (const [n, d] of segUp) {
      if (d && !this.segments.has(n)) added.push(n);
      if (!d && this.segments.has(n)) removed.push(n);
    }
    let ids = this.identities;
    if (added.length || removed.length) {
      const names = [...this.segments.keys()].filter((n) => !removed.includes(n)).concat(added);
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
    this.pairs = new Map();
    this.sortedPairs = [];
    this.refs = new Map();
    this.rulesById = new Map();
    this.ruleIds = new Map();
    this.ruleBuckets = new Map();
    this.ipc = new IpcacheState();
    this.policyList = this.policyDigestCache = this.rulesCache = this.rulesDigestCache = this.idsDigestCache = null;
    this.ruleEdits = null;
    this.maxRuleId = 0;
    this.sourceDigests = new Map();
    this.policyWarnings = null;
    this.warned = new Set();
    this.generation = opts.generation;

    // A later document of the same kind and name replaces an earlier one.
    const policyDocs = new Map<string, Policy>();
    for (const d of docs) {
      if (d.kind === 'Segment') this.segments.set(d.metadata.name, d);
      else if (d.kind === 'Device') this.devices.set(d.metadata.name, d);
      else if (d.kind === 'Policy') policyDocs.set(d.metadata.name, d);
    }
    this.quarantined = new Set(opts.quarantined ?? []);
    this.identities = assignIdentities([...this.segments.keys()], opts.identities);
    this.known = { ...opts.identities, ...this.identities };

    // Rule ids of the previous generation, if given: the first entry of a key counts.
    const prevIds = new Map<string, PolicyRuleIds>();
    const used = new Set<number>();
    for (const r of opts.rules ?? []) {
      used.add(r.ruleId);
      let ids = prevIds.get(r.policy);
      if (!ids) prevIds.set(r.policy, (ids = { allow: [], deny: [] }));
      const list = r.action === 'deny' ? ids.deny : ids.allow;
      if (Number.isInteger(r.index) && r.index >= 0 && list[r.index] === undefined) list[r.index] = r.ruleId;
    }
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
    this.reset([...docs.values()], { identities: known, generation, quarantined: [...quarantined], rules: prev.rules });
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

    // Rule ids: kept by (policy, action, index); new ones get the lowest ids not held before.
    // Until the second loop below, rulesById is the previous generation's.
    const batch = new Set<number>();
    const taken = (id: number) => {
      if (batch.has(id)) return true;
      const r = this.rulesById.get(id);
      return r !== undefined && !docChanged.has(r.policy);
    };
    const wasUsed = used ? (id: number) => used.has(id) : (id: number) => this.rulesById.has(id);
    const newIds = new Map<string, PolicyRuleIds>();
    const fresh: { list: number[]; index: number }[] = [];
    for (const n of names) {
      const doc = changes.get(n);
      if (!doc) continue;
      if (!docChanged.has(n)) {
        // Same rules, only re-resolving segment names: same ids.
        newIds.set(n, this.ruleIds.get(n)!);
        continue;
      }
      const before = prevIds.get(n);
      const ids: PolicyRuleIds = { allow: [], deny: [] };
      newIds.set(n, ids);
      for (const action of ['allow', 'deny'] as const) {
        const count = doc.spec[action]?.length ?? 0;
        for (let index = 0; index < count; index++) {
          const id = before?.[action][index];
          if (validRuleId(id) && !taken(id)) {
            batch.add(id);
            ids[action][index] = id;
          } else {
            fresh.push({ list: ids[action], index });
          }
        }
      }
    }
    // Ids 1..maxRuleId all held before (kept ones are among them): the first free one is above.
    let next = !used && this.rulesById.size === this.maxRuleId ? this.maxRuleId + 1 : 1;
    for (const f of fresh) {
      while (wasUsed(next) || taken(next)) next++;
      batch.add(next);
      f.list[f.index] = next;
    }

    const upsert: RuleInfo[] = [];
    const removedIds = new Set<number>();
    for (const n of names) {
      const old = this.policies.get(n);
      const doc = changes.get(n);
      if (this.warned.delete(n)) this.policyWarnings = null;
      if (old) {
        this.forPairs(old, (src, dst) => {
          const pair = this.pairs.get(pairKey(src, dst))!;
          pair.policies.delete(n);
          dirtyPairs.add(pair);
        });
        for (const ref of new Set([...old.doc.spec.from, ...old.doc.spec.to])) {
          const set = this.refs.get(ref)!;
          set.delete(n);
          if (set.size === 0) this.refs.delete(ref);
        }
        for (const r of old.infos) {
          this.rulesById.delete(r.ruleId);
          removedIds.add(r.ruleId);
        }
      }
      if (!doc) {
        this.policies.delete(n);
        this.ruleIds.delete(n);
        continue;
      }
      const st = this.compilePolicy(doc, newIds.get(n)!);
      this.policies.set(n, st);
      this.ruleIds.set(n, newIds.get(n)!);
      if (st.warnings.length) {
        this.warned.add(n);
        this.policyWarnings = null;
      }
      this.forPairs(st, (src, dst) => {
        const k = pairKey(src, dst);
        let pair = this.pairs.get(k);
        if (!pair) this.pairs.set(k, (pair = { key: k, src, dst, policies: new Set(), entries: [] }));
        pair.policies.add(n);
        dirtyPairs.add(pair);
      });
      for (const ref of new Set([...doc.spec.from, ...doc.spec.to])) {
        let set = this.refs.get(ref);
        if (!set) this.refs.set(ref, (set = new Set()));
        set.add(n);
      }
      for (const r of st.infos) {
        const before = old?.infos.find((x) => x.ruleId === r.ruleId);
        if (!before || canonicalRule(before) !== canonicalRule(r)) upsert.push(r);
        removedIds.delete(r.ruleId);
        this.rulesById.set(r.ruleId, r);
      }
    }
    // An id removed from one policy may have been kept by none and reused by another.
    for (const r of upsert) removedIds.delete(r.ruleId);
    upsert.sort((a, b) => a.ruleId - b.ruleId);
    const touched = new Set<number>([...upsert.map((r) => r.ruleId), ...removedIds]);
    if (touched.size) {
      this.rulesDigestCache = null;
      for (const id of touched) this.ruleBuckets.delete(Math.floor(id / RULE_BUCKET));
      if (this.rulesCache && !this.ruleEdits && touched.size <= 1024) this.ruleEdits = { upsert, remove: removedIds };
      else this.rulesCache = this.ruleEdits = null;
      for (const r of upsert) if (r.ruleId > this.maxRuleId) this.maxRuleId = r.ruleId;
      if (removedIds.has(this.maxRuleId)) {
        this.maxRuleId = 0;
        for (const id of this.rulesById.keys()) if (id > this.maxRuleId) this.maxRuleId = id;
      }
    }
    return { upsert, remove: [...removedIds].sort((a, b) => a - b) };
  }

  private compilePolicy(doc: Policy, ruleIds: PolicyRuleIds): PolicyState {
    const name = doc.metadata.name;
    const warnings: string[] = [];
    const idsOf = (names: readonly string[], field: string): number[] => {
      const out = new Set<number>();
      for (const n of names) {
        const id = this.identities[n];
        if (id === undefined) warnings.push(`policy ${name}: ${field} names unknown segment ${n}; ignored`);
        else out.add(id);
      }
      return [...out];
    };
    const froms = idsOf(doc.spec.from, 'from');
    const tos = idsOf(doc.spec.to, 'to');
    const rules: CompiledRule[] = [];
    const infos: RuleInfo[] = [];
    const mode = doc.spec.mode;
    for (const action of ['allow', 'deny'] as const) {
      (doc.spec[action] ?? []).forEach((rule, index) => {
        const ruleId = ruleIds[action][index];
        infos.push({ ruleId, policy: name, action, index, mode });
        const rank = action === 'allow' ? RANK_ALLOW : mode === 'audit' ? RANK_AUDIT_DENY : RANK_DENY;
        const sig = `${rule.protocol}|${rule.ports?.join(',') ?? ''}|${rule.types?.join(',') ?? ''}`;
        let keys = this.blocks.get(sig);
        if (!keys) this.blocks.set(sig, (keys = ruleKeys(rule)));
        rules.push({ ruleId, rank, encrypt: action === 'allow' && rule.encryption === 'required', keys });
      });
    }
    return { doc, froms, tos, rules, infos, warnings };
  }

  private forPairs(p: PolicyState, fn: (src: number, dst: number) => void) {
    if (p.rules.length === 0) return;
    for (const src of p.froms) for (const dst of p.tos) fn(src, dst);
  }

  /** Recompiles pairs and returns the policy section of the delta. */
  private recompilePairs(dirty: Set<PairState>, fresh = false): BundleDelta['policy'] {
    const upsert: PolicyEntry[] = [];
    const remove: PolicyKeyRef[] = [];
    if (dirty.size === 0) return { upsert, remove };
    this.policyDigestCache = null;
    const results: { pair: PairState; before: PolicyEntry[]; after: PolicyEntry[] }[] = [];
    for (const pair of dirty) {
      const before = pair.entries;
      const after = pair.policies.size ? compilePair(pair.src, pair.dst, [...pair.policies].map((n) => this.policies.get(n)!.rules)) : [];
      if (!fresh) diffEntries(before, after, upsert, remove);
      results.push({ pair, before, after });
      this.sourceDigests.delete(pair.src);
    }

    this.policyList = null;

    const born: PairState[] = [];
    const dead: PairState[] = [];
    for (const { pair, before, after } of results) {
      pair.entries = after;
      if (pair.policies.size === 0) this.pairs.delete(pair.key);
      if (!before.length && after.length) born.push(pair);
      else if (before.length && !after.length) dead.push(pair);
    }
    if (fresh || born.length + dead.length > 64) {
      this.sortedPairs = [...this.pairs.values()].filter((p) => p.entries.length).sort(cmpPair);
    } else {
      for (const p of dead) this.sortedPairs.splice(this.pairIndex(p), 1);
      for (const p of born) this.sortedPairs.splice(this.pairIndex(p), 0, p);
    }
    return { upsert, remove };
  }

  private pairIndex(p: { src: number; dst: number }): number {
    let lo = 0;
    let hi = this.sortedPairs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmpPair(this.sortedPairs[mid], p) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---- output ---------------------------------------------------------------------

  /** The policy digest from the cached source digests, recomputing those of changed sources. */
  private computePolicyDigest(): string {
    const sources: { src: number; digest: string }[] = [];
    const pairs = this.sortedPairs;
    for (let i = 0; i < pairs.length; ) {
      const src = pairs[i].src;
      let j = i + 1;
      while (j < pairs.length && pairs[j].src === src) j++;
      let digest = this.sourceDigests.get(src);
      if (digest === undefined) this.sourceDigests.set(src, (digest = sourceDigest(pairs.slice(i, j).map((p) => p.entries))));
      sources.push({ src, digest });
      i = j;
    }
    return policyDigest(sources);
  }

  private materialize(): Bundle {
    if (!this.policyList) {
      // Each pair's entries are replaced, never changed, when it is recompiled: the
      // list of them now is this generation's policy, whatever later updates do.
      const parts = this.sortedPairs.map((p) => p.entries);
      let list: PolicyEntry[] | null = null;
      this.policyList = () => (list ??= concatParts(parts));
    }
    this.policyDigestCache ??= this.computePolicyDigest();
    if (this.rulesCache && this.ruleEdits) {
      this.rulesCache = mergeRules(this.rulesCache, this.ruleEdits.upsert, this.ruleEdits.remove);
    } else if (!this.rulesCache) {
      this.rulesCache = [...this.rulesById.values()].sort((a, b) => a.ruleId - b.ruleId);
    }
    this.ruleEdits = null;
    if (!this.rulesDigestCache) {
      const buckets: { bucket: number; digest: string }[] = [];
      const rules = this.rulesCache;
      for (let i = 0; i < rules.length; ) {
        const bucket = Math.floor(rules[i].ruleId / RULE_BUCKET);
        let j = i + 1;
        while (j < rules.length && Math.floor(rules[j].ruleId / RULE_BUCKET) === bucket) j++;
        let digest = this.ruleBuckets.get(bucket);
        if (digest === undefined) this.ruleBuckets.set(bucket, (digest = ruleBucketDigest(rules.slice(i, j))));
        buckets.push({ bucket, digest });
        i = j;
      }
      this.rulesDigestCache = rulesDigest(buckets);
    }
    this.idsDigestCache ??= identitiesDigest(this.identities);
    if (!this.policyWarnings) {
      this.policyWarnings = [];
      for (const n of [...this.warned].sort(cmpStr)) this.policyWarnings.push(...this.policies.get(n)!.warnings);
    }
    const bundle = {
      generation: this.generation,
      hash: combineDigests({ identities: this.idsDigestCache, ipcache: this.ipc.digest(), policy: this.policyDigestCache, rules: this.rulesDigestCache }),
      identities: this.identities,
      ipcache: this.ipc.entries(),
      policy: [] as PolicyEntry[],
      rules: this.rulesCache,
      warnings: [...this.ipc.warnings(), ...this.policyWarnings],
    };
    // The flat policy list (100,000+ entries) is built when first read: an update that
    // is only streamed as a delta never pays for it. It reads as a plain property
    // (JSON, spread, deep equality); assigning to it replaces it.
    const policyList = this.policyList;
    Object.defineProperty(bundle, 'policy', {
      enumerable: true,
      configurable: true,
      get: policyList,
      set(v: PolicyEntry[]) {
        Object.defineProperty(bundle, 'policy', { value: v, enumerable: true, configurable: true, writable: true });
      },
    });
    this.current = bundle;
    return bundle;
  }
}

function concatParts(parts: readonly PolicyEntry[][]): PolicyEntry[] {
  let n = 0;
  for (const p of parts) n += p.length;
  const out: PolicyEntry[] = new Array(n);
  let i = 0;
  for (const p of parts) for (const e of p) out[i++] = e;
  return out;
}

/** `rules` (by id) without the ids in `remove`, with `upsert` (by id) replacing or joining. */
function mergeRules(rules: readonly RuleInfo[], upsert: readonly RuleInfo[], remove: ReadonlySet<number>): RuleInfo[] {
  const out: RuleInfo[] = [];
  let j = 0;
  for (const r of rules) {
    while (j < upsert.length && upsert[j].ruleId < r.ruleId) out.push(upsert[j++]);
    if (j < upsert.length && upsert[j].ruleId === r.ruleId) out.push(upsert[j++]);
    else if (!remove.has(r.ruleId)) out.push(r);
  }
  while (j < upsert.length) out.push(upsert[j++]);
  return out;
}

/** Adds to upsert/remove what turns `before` into `after` (both in inner-key order, one pair). */
function diffEntries(before: readonly PolicyEntry[], after: readonly PolicyEntry[], upsert: PolicyEntry[], remove: PolicyKeyRef[]) {
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const c = i >= before.length ? 1 : j >= after.length ? -1 : compareInnerKeys(entryInnerKey(before[i]), entryInnerKey(after[j]));
    if (c < 0) remove.push(policyKeyRef(before[i++]));
    else if (c > 0) upsert.push(after[j++]);
    else {
      if (!sameDecision(before[i], after[j])) upsert.push(after[j]);
      i++;
      j++;
    }
  }
}
