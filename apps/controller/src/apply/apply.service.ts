import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Actor } from '../auth/roles';
import { BundleService } from '../bundles/bundle.service';
import type { Bundle } from '../compiler/compile';
import type { BundleDelta } from '../../../../model/generation/bundle';
import type { DocumentRef, IncrementalCompiler } from '../compiler/incremental';
import { Problem } from '../http/problem';
import { MetricsService } from '../metrics/metrics.service';
import { DocumentValidationError, formatIssue, parseDocuments, readDocuments, type Issue } from '../policy/parse';
import type { Document, PolicyTest } from '../policy/schema';
import type { Store, StoreReader, StoreWriter } from '../store/store';
import { CONFIG, LOGGER, STORE } from '../di-tokens';
import type { ControllerConfig } from '../config';
import { BundleIndex } from '../compiler/trace';
import { ControlService } from '../control/control.service';
import { fieldDiff } from './field-diff';
import { flowImpact, type FlowImpact, type ObservedFlowRow } from './flow-impact';
import { runPolicyTestsScoped } from './policy-tests';
import { scopedReferenceCheck } from './scoped-references';
import { catchUpSiteState, docKey, loadSiteState, normalize, type SiteState } from './site-state';
import { storeResolverChange } from './resolver-change';
import { compileOrExplain, docAfter, docsAfter, testsAfter, type ChangePlan, type DocumentChange } from './change-plan';

export type { DocumentChange } from './change-plan';

export interface ChangeResult {
  dryRun: boolean;
  /** False when nothing differed from what is stored: no new generation was made. */
  changed: boolean;
  generation: number;
  hash: string;
  documents: DocumentChange[];
  warnings: string[];
  /** Which already observed flows the change newly denies or newly allows (omitted when no flow was observed). */
  flows?: FlowImpact;
}

export { toDocument } from './site-state';

const key = docKey;
const comparable = (d: Document) => ({ apiVersion: d.apiVersion, metadata: { labels: d.metadata.labels ?? {} }, spec: d.spec });

/**
 * Every change to documents or quarantine goes through here: in one transaction
 * holding the change lock, it validates, compiles the would-be bundle, runs every
 * PolicyTest against it and only then stores documents, identities, the new bundle
 * generation and the audit entry. A dry run does the same and rolls back.
 *
 * The site is kept in memory (site-state.ts) at the newest generation this
 * controller knows: a change is compiled incrementally on it, checked against
 * what it touches, and undone again when the apply is refused, a dry run or
 * not committed. When the store holds a newer generation (another controller
 * applied) the site is read again from the store first.
 */
@Injectable()
export class ApplyService implements OnApplicationBootstrap {
  private site: SiteState | null = null;
  /** Changes from this process one at a time (the store's lock orders them across controllers). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(ControlService) private readonly control: ControlService,
    /** dnsResolvers (--dns-resolver): compiled into every generation, for segments without spec.dns. */
    @Inject(CONFIG) private readonly config: ControllerConfig,
  ) {}

  /** A restart with other --dns-resolver addresses makes a new generation, so enforcers learn from the resolvers now given. */
  async onApplicationBootstrap() {
    try {
      await this.publishResolvers();
    } catch (err) {
      this.log.error({ err: String(err) }, 'could not publish the --dns-resolver change; the next apply will');
    }
  }

  /** The next generation if --dns-resolver changed what the newest one holds (resolver-change.ts), else null. */
  publishResolvers(): Promise<number | null> {
    const run = this.queue.then(async () => {
      let published: Awaited<ReturnType<typeof storeResolverChange>> = null;
      try {
        published = await this.store.change(async (tx) => {
          const prevGen = await tx.latestGeneration();
          if (prevGen === 0) return null;
          if (!this.site || this.site.generation !== prevGen) this.site = await this.siteAt(tx, prevGen);
          return storeResolverChange(tx, this.site);
        });
      } catch (err) {
        this.site = null; // its compiler may be at the next generation already
        throw err;
      }
      if (!published) return null;
      published.commit();
      this.bundles.announce(published.generation);
      this.log.info({ generation: published.generation, dnsResolvers: published.dnsResolvers }, 'default DNS resolvers changed: new generation');
      return published.generation;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The site at the store's newest generation: the one held, brought forward by what another controller
   * changed (catchUpSiteState), else compiled afresh from the store.
   */
  private async siteAt(tx: StoreReader, generation: number): Promise<SiteState> {
    const t0 = performance.now();
    const held = this.site;
    this.site = null; // a throw half-way leaves no half-updated site behind
    const caught = held ? await catchUpSiteState(tx, held, generation).catch(() => null) : null;
    const site = caught ?? (await loadSiteState(tx, generation, this.config.dnsResolvers));
    const how = caught ? 'incremental' : 'full';
    this.metrics.siteLoads.inc({ how });
    this.log.info({ generation, from: held?.generation ?? null, how, documents: site.docs.size, ms: Math.round(performance.now() - t0) }, 'site loaded from the store');
    return site;
  }

  /** The flows enforcers reported to this controller. */
  private observedFlows(): ObservedFlowRow[] {
    try {
      return this.control.flows.list({ limit: 10_000 });
    } catch {
      return [];
    }
  }

  /** Parses and validates input (YAML text or objects) without touching the store. */
  parse(input: string | unknown[], source?: string): Document[] {
    return parseDocuments(input, source);
  }

  async apply(input: string | unknown[], opts: { dryRun: boolean; actor: Actor; source?: string }): Promise<ChangeResult> {
    return this.timed(async () => {
      const read = readDocuments(input, opts.source);
      const docs = read.map((r) => normalize(r.document));
      const seen = new Map<string, number>();
      docs.forEach((d, i) => {
        const k = key(d.kind, d.metadata.name);
        if (seen.has(k)) {
          throw new DocumentValidationError([
            { document: i, kind: d.kind, name: d.metadata.name, path: 'metadata.name', message: `${k} is given twice (also document ${seen.get(k)})`, file: opts.source },
          ]);
        }
        seen.set(k, i);
      });
      return this.change(opts.dryRun, opts.actor, 'apply', `${docs.length} document(s)`, (tx, site) => {
        const changes: DocumentChange[] = [];
        const upsert: Document[] = [];
        for (const d of docs) {
          const prev = site.docs.get(d.kind, d.metadata.name);
          const diff = prev ? fieldDiff(comparable(prev), comparable(d)) : [];
          const action = !prev ? 'created' : diff.length ? 'updated' : 'unchanged';
          changes.push({ kind: d.kind, name: d.metadata.name, action, changes: action === 'created' ? [] : diff });
          if (action !== 'unchanged') upsert.push(d);
        }
        // Optimistic concurrency: a document read at `version` (cordon get -o yaml) is not applied over a newer one.
        const checked = read.flatMap((r, i) => (r.version !== undefined && changes[i].action === 'updated' ? [{ d: docs[i], version: r.version, index: i }] : []));
        const verify = async () => {
          const stale: string[] = [];
          for (const c of checked) {
            const stored = await tx.documents.get(c.d.kind, c.d.metadata.name);
            if (stored && stored.version !== c.version) stale.push(`${c.d.kind}/${c.d.metadata.name} (document ${c.index}): read at version ${c.version}, stored version ${stored.version}`);
          }
          if (stale.length) {
            throw new Problem(
              409,
              'Conflict',
              `changed since it was read, nothing was applied: ${stale.join('; ')} — get it again and redo the change, or remove its version field to apply regardless`,
              undefined,
              'https://cordon.dev/problems/version-conflict',
            );
          }
        };
        const write = () =>
          tx.documents.upsertMany(upsert.map((d) => ({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, labels: d.metadata.labels ?? {}, spec: d.spec })));
        return { upsert, remove: [], named: new Set(seen.keys()), changes, verify, write };
      });
    });
  }

  async delete(kind: string, name: string, opts: { dryRun?: boolean; actor: Actor }): Promise<ChangeResult> {
    return this.timed(() =>
      this.change(!!opts.dryRun, opts.actor, 'delete', key(kind, name), (tx, site) => {
        if (!site.docs.get(kind, name)) throw new Problem(404, 'Not Found', `${kind} "${name}" does not exist`);
        return {
          upsert: [],
          remove: [{ kind: kind as DocumentRef['kind'], name }],
          named: new Set([key(kind, name)]),
          changes: [{ kind, name, action: 'deleted', changes: [] }],
          write: async () => void (await tx.documents.delete(kind, name)),
        };
      }),
    );
  }

  /** Moves a device to (or out of) the quarantine identity on every enforcer. */
  async quarantine(device: string, on: boolean, opts: { actor: Actor; reason?: string }): Promise<ChangeResult> {
    return this.change(false, opts.actor, on ? 'quarantine.add' : 'quarantine.release', `Device/${device}`, (tx, site) => {
      if (!site.docs.get('Device', device)) {
        throw new Problem(404, 'Not Found', `Device "${device}" does not exist (cordon get devices lists them)`);
      }
      const quarantined = site.quarantined;
      const isIn = quarantined.includes(device);
      const next = on ? [...new Set([...quarantined, device])] : quarantined.filter((d) => d !== device);
      return {
        upsert: [],
        remove: [],
        quarantined: isIn === on ? undefined : next,
        named: new Set([key('Device', device)]),
        changes: isIn === on ? [] : [{ kind: 'Device', name: device, action: 'updated', changes: [{ path: 'quarantined', from: isIn, to: on }] }],
        write: async () => {
          if (on) await tx.quarantine.add(device, opts.reason ?? null, opts.actor.name);
          else await tx.quarantine.remove(device);
        },
      };
    });
  }

  private async timed<T>(fn: () => Promise<T>): Promise<T> {
    const end = this.metrics.applyDuration.startTimer();
    try {
      const r = await fn();
      end({ result: 'ok' });
      return r;
    } catch (err) {
      end({ result: 'refused' });
      throw err;
    }
  }

  private change(dryRun: boolean, actor: Actor, action: string, target: string, plan: (tx: StoreWriter, site: SiteState) => ChangePlan): Promise<ChangeResult> {
    const run = this.queue.then(() => this.changeNow(dryRun, actor, action, target, plan));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async changeNow(dryRun: boolean, actor: Actor, action: string, target: string, plan: (tx: StoreWriter, site: SiteState) => ChangePlan): Promise<ChangeResult> {
    const rollback = Symbol('dry-run');
    let result: ChangeResult | undefined;
    /** Puts the in-memory site back as it was (or drops it) when the change does not commit. */
    let undo: (() => void) | null = null;
    /** Brings the in-memory site's documents to the committed state. */
    let commit: (() => void) | null = null;
    try {
      result = await this.store.change(async (tx) => {
        const prevGen = await tx.latestGeneration();
        if (!this.site || this.site.generation !== prevGen) this.site = await this.siteAt(tx, prevGen);
        const site = this.site;
        const p = plan(tx, site);
        await p.verify?.();

        const refs = scopedReferenceCheck(site, p);
        if (refs.errors.length) throw new DocumentValidationError(refs.errors.map((e: Issue) => ({ ...e, document: e.document ?? -1 })));
        const warnings = refs.warnings.map((w: Issue) => formatIssue(w));

        const changed = p.changes.some((c) => c.action !== 'unchanged');
        let bundle: Bundle = site.compiler.bundle;
        let delta: BundleDelta | null = null;
        const observed = changed ? this.observedFlows() : [];
        const indexBefore = observed.length ? new BundleIndex(site.compiler.bundle, [...site.docs.of('Device'), ...site.docs.of('Segment')]) : null;
        if (changed) {
          undo = this.undoer(site, p);
          const step = compileOrExplain(site.compiler, { upsert: p.upsert, remove: p.remove, quarantined: p.quarantined }, prevGen + 1, () => (this.site = null));
          bundle = step.bundle;
          delta = step.delta;
        }
        warnings.push(...(bundle.warnings ?? []));

        const { failures } = runPolicyTestsScoped(bundle, testsAfter(site, p), (kind, name) => docAfter(site, p, kind, name));
        if (failures.length) {
          throw new Problem(
            422,
            'Policy tests failed',
            `${failures.length} policy test expectation(s) would fail; nothing was changed`,
            { failures },
            'https://cordon.dev/problems/policy-tests-failed',
          );
        }

        const out: ChangeResult = {
          dryRun,
          changed,
          generation: changed ? prevGen + 1 : prevGen,
          hash: bundle.hash,
          documents: p.changes,
          warnings,
        };
        if (indexBefore) out.flows = flowImpact(indexBefore, new BundleIndex(bundle, docsAfter(site, p)), observed);
        if (dryRun) {
          result = out;
          throw rollback;
        }
        if (!changed) return out;
        await p.write();
        const written = new Map(tx.documents.written().map((w) => [docKey(w.kind, w.name), w.stamp]));
        const fresh = Object.fromEntries(Object.entries(bundle.identities).filter(([s]) => !Object.hasOwn(site.identities, s)));
        await tx.identities.insert(fresh);
        await tx.insertBundle(prevGen + 1, bundle.hash, bundle, site.storedMatches && delta ? { delta, baseHash: site.hash } : null);
        await tx.audit.append({
          actor: actor.name,
          source: actor.source,
          action,
          target,
          diff: { generation: prevGen + 1, hash: bundle.hash, documents: p.changes.filter((c) => c.action !== 'unchanged') },
        });
        await tx.notifyGeneration(prevGen + 1);
        commit = () => {
          for (const d of p.upsert) site.docs.set(d);
          for (const r of p.remove) site.docs.delete(r.kind, r.name);
          // the stamps they were written with, so that a later catch-up does not read them again ('': read again)
          for (const d of p.upsert) site.stamps.set(docKey(d.kind, d.metadata.name), written.get(docKey(d.kind, d.metadata.name)) ?? '');
          for (const r of p.remove) site.stamps.delete(docKey(r.kind, r.name));
          // as of the version its writes left: if it was at the one they started from (else compared whole next time)
          const v = tx.documents.committedVersions();
          if (p.upsert.length || p.remove.length) site.documentsVersion = v && v.before === site.documentsVersion ? v.after : -1;
          if (site.addresses) {
            for (const d of p.upsert) if (d.kind === 'Device') site.addresses.set(d);
            for (const r of p.remove) if (r.kind === 'Device') site.addresses.remove(r.name);
          }
          if (p.quarantined) site.quarantined = p.quarantined;
          Object.assign(site.identities, fresh);
          site.generation = prevGen + 1;
          site.hash = bundle.hash;
          site.storedMatches = true;
          site.storedResolvers = bundle.dnsResolvers ?? [];
        };
        return out;
      });
    } catch (err) {
      (undo as (() => void) | null)?.();
      if (err === rollback && result) return result;
      throw err;
    }
    (commit as (() => void) | null)?.();
    if (result.changed) {
      this.bundles.announce(result.generation);
      this.log.info({ actor: actor.name, action, target, generation: result.generation }, 'policy changed');
    }
    return result;
  }

  /**
   * The inverse change, to put the compiler back after a refused apply or a dry
   * run. Rule ids may come back differently (a removed rule's id is handed out
   * anew) and an identity handed out stays in the compiler's history: when the
   * compiler does not end where it started, the site is dropped and loaded
   * from the store at the next change.
   */
  private undoer(site: SiteState, p: ChangePlan): () => void {
    const upsert: Document[] = [];
    const remove: DocumentRef[] = [];
    for (const d of p.upsert) {
      const old = site.docs.get(d.kind, d.metadata.name);
      if (old) upsert.push(old);
      else remove.push({ kind: d.kind, name: d.metadata.name });
    }
    for (const r of p.remove) {
      const old = site.docs.get(r.kind, r.name);
      if (old) upsert.push(old);
    }
    const quarantined = p.quarantined ? site.quarantined : undefined;
    const known = Object.keys(site.compiler.identityHistory).length;
    return () => {
      if (this.site !== site) return;
      try {
        site.compiler.update({ upsert, remove, quarantined }, site.generation);
        if (site.compiler.bundle.hash === site.hash && Object.keys(site.compiler.identityHistory).length === known) return;
      } catch {
        // dropped below
      }
      this.site = null;
    };
  }
}
