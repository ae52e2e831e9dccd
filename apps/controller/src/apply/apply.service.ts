import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Actor } from '../auth/roles';
import { BundleService } from '../bundles/bundle.service';
import { compile, type Bundle } from '../compiler/compile';
import { assignIdentities } from '../compiler/identities';
import { runPolicyTests } from '../compiler/trace';
import { Problem } from '../http/problem';
import { MetricsService } from '../metrics/metrics.service';
import { DocumentValidationError, formatIssue, parseDocuments, type Issue } from '../policy/parse';
import { checkReferences } from '../policy/references';
import type { Document } from '../policy/schema';
import { canonicalJson } from '../store/canonical';
import type { StoredDocument, Store, StoreWriter } from '../store/store';
import { LOGGER, STORE } from '../tokens';
import { fieldDiff, type FieldChange } from './field-diff';

export interface DocumentChange {
  kind: string;
  name: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted';
  changes: FieldChange[];
}

export interface ChangeResult {
  dryRun: boolean;
  /** False when nothing differed from what is stored: no new generation was made. */
  changed: boolean;
  generation: number;
  hash: string;
  documents: DocumentChange[];
  warnings: string[];
}

/** Stored rows → documents as the compiler takes them. */
export function toDocument(d: StoredDocument): Document {
  return {
    apiVersion: d.apiVersion,
    kind: d.kind,
    metadata: Object.keys(d.labels ?? {}).length ? { name: d.name, labels: d.labels } : { name: d.name },
    spec: d.spec,
  } as Document;
}

const key = (kind: string, name: string) => `${kind}/${name}`;
const comparable = (d: Document) => ({ apiVersion: d.apiVersion, metadata: { labels: d.metadata.labels ?? {} }, spec: d.spec });

/**
 * Every change to documents or quarantine goes through here: in one transaction
 * holding the change lock, it validates, compiles the would-be bundle, runs every
 * PolicyTest against it and only then stores documents, identities, the new bundle
 * generation and the audit entry. A dry run does the same and rolls back.
 */
@Injectable()
export class ApplyService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  /** Parses and validates input (YAML text or objects) without touching the store. */
  parse(input: string | unknown[], source?: string): Document[] {
    return parseDocuments(input, source);
  }

  async apply(input: string | unknown[], opts: { dryRun: boolean; actor: Actor; source?: string }): Promise<ChangeResult> {
    return this.timed(async () => {
      const docs = this.parse(input, opts.source);
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
      return this.change(opts.dryRun, opts.actor, 'apply', `${docs.length} document(s)`, async (tx, stored, quarantined) => {
        const merged = new Map(stored.map((d) => [key(d.kind, d.metadata.name), d]));
        const changes: DocumentChange[] = [];
        for (const d of docs) {
          const k = key(d.kind, d.metadata.name);
          const prev = merged.get(k);
          const diff = prev ? fieldDiff(comparable(prev), comparable(d)) : [];
          const action = !prev ? 'created' : diff.length ? 'updated' : 'unchanged';
          changes.push({ kind: d.kind, name: d.metadata.name, action, changes: action === 'created' ? [] : diff });
          merged.set(k, d);
        }
        const write = async () => {
          for (const d of docs) {
            const c = changes.find((x) => x.kind === d.kind && x.name === d.metadata.name);
            if (c?.action === 'unchanged') continue;
            await tx.upsertDocument({ apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name, labels: d.metadata.labels ?? {}, spec: d.spec });
          }
        };
        return { docs: [...merged.values()], quarantined, changes, write };
      });
    });
  }

  async delete(kind: string, name: string, opts: { dryRun?: boolean; actor: Actor }): Promise<ChangeResult> {
    return this.timed(() =>
      this.change(!!opts.dryRun, opts.actor, 'delete', key(kind, name), async (tx, stored, quarantined) => {
        const rest = stored.filter((d) => !(d.kind === kind && d.metadata.name === name));
        if (rest.length === stored.length) throw new Problem(404, 'Not Found', `${kind} "${name}" does not exist`);
        return {
          docs: rest,
          quarantined,
          changes: [{ kind, name, action: 'deleted', changes: [] }],
          write: async () => void (await tx.deleteDocument(kind, name)),
        };
      }),
    );
  }

  /** Moves a device to (or out of) the quarantine identity on every enforcer. */
  async quarantine(device: string, on: boolean, opts: { actor: Actor; reason?: string }): Promise<ChangeResult> {
    return this.change(false, opts.actor, on ? 'quarantine.add' : 'quarantine.release', `Device/${device}`, async (tx, stored, quarantined) => {
      if (!stored.some((d) => d.kind === 'Device' && d.metadata.name === device)) {
        throw new Problem(404, 'Not Found', `Device "${device}" does not exist (cordon get devices lists them)`);
      }
      const isIn = quarantined.includes(device);
      const next = on ? [...new Set([...quarantined, device])] : quarantined.filter((d) => d !== device);
      return {
        docs: stored,
        quarantined: next,
        changes: isIn === on ? [] : [{ kind: 'Device', name: device, action: 'updated', changes: [{ path: 'quarantined', from: isIn, to: on }] }],
        write: async () => {
          if (on) await tx.addQuarantine(device, opts.reason ?? null, opts.actor.name);
          else await tx.removeQuarantine(device);
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

  private async change(
    dryRun: boolean,
    actor: Actor,
    action: string,
    target: string,
    plan: (
      tx: StoreWriter,
      stored: Document[],
      quarantined: string[],
    ) => Promise<{ docs: Document[]; quarantined: string[]; changes: DocumentChange[]; write: () => Promise<void> }>,
  ): Promise<ChangeResult> {
    const rollback = Symbol('dry-run');
    let result: ChangeResult | undefined;
    try {
      result = await this.store.change(async (tx) => {
        const stored = (await tx.listDocuments()).map(toDocument);
        const quarantinedNow = (await tx.listQuarantined()).map((q) => q.device);
        const p = await plan(tx, stored, quarantinedNow);

        const refs = checkReferences(p.docs);
        if (refs.errors.length) throw new DocumentValidationError(refs.errors.map((e: Issue) => ({ ...e, document: e.document ?? -1 })));
        const warnings = refs.warnings.map((w: Issue) => formatIssue(w));

        const prevGen = await tx.latestGeneration();
        const existing = await tx.getIdentities();
        const segments = p.docs.filter((d) => d.kind === 'Segment').map((d) => d.metadata.name);
        const identities = assignIdentities(segments, existing);
        const bundle = compileOrExplain(p.docs, { identities, generation: prevGen + 1, quarantined: p.quarantined });
        warnings.push(...(bundle.warnings ?? []));

        const { failures } = runPolicyTests(bundle, p.docs);
        if (failures.length) {
          throw new Problem(
            422,
            'Policy tests failed',
            `${failures.length} policy test expectation(s) would fail; nothing was changed`,
            { failures },
            'https://cordon.dev/problems/policy-tests-failed',
          );
        }

        const changed = p.changes.some((c) => c.action !== 'unchanged');
        const prev = changed ? null : await tx.latestBundle();
        const out: ChangeResult = {
          dryRun,
          changed,
          generation: changed ? bundle.generation : prevGen,
          hash: changed || !prev ? bundle.hash : prev.hash,
          documents: p.changes,
          warnings,
        };
        if (dryRun) {
          result = out;
          throw rollback;
        }
        if (!changed) return out;
        await p.write();
        const fresh = Object.fromEntries(Object.entries(identities).filter(([s]) => !(s in existing)));
        await tx.insertIdentities(fresh);
        await tx.insertBundle(bundle.generation, bundle.hash, bundle);
        await tx.appendAudit({
          actor: actor.name,
          source: actor.source,
          action,
          target,
          diff: { generation: bundle.generation, hash: bundle.hash, documents: p.changes.filter((c) => c.action !== 'unchanged') },
        });
        await tx.notifyGeneration(bundle.generation);
        return out;
      });
    } catch (err) {
      if (err === rollback && result) return result;
      throw err;
    }
    if (result.changed) {
      this.bundles.announce(result.generation);
      this.log.info({ actor: actor.name, action, target, generation: result.generation }, 'policy changed');
    }
    return result;
  }
}

/** Compiler errors that concern the documents (say, overlapping CIDRs) are the user's to fix: 400. */
function compileOrExplain(docs: Document[], opts: Parameters<typeof compile>[1]): Bundle {
  try {
    return compile(docs, opts);
  } catch (err) {
    const issues = (err as { issues?: Issue[] }).issues;
    if (err instanceof DocumentValidationError) throw err;
    if (Array.isArray(issues)) throw new DocumentValidationError(issues.map((i) => ({ ...i, document: i.document ?? -1 })));
    throw err;
  }
}
