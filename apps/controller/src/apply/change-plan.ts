/** A change as the apply path works it out before compiling, and the site as it would leave it (for tests and checks). */
import { DocumentValidationError, type Issue } from '../policy/parse';
import type { DocumentRef, IncrementalCompiler } from '../compiler/incremental';
import type { Document, PolicyTest } from '../policy/schema';
import type { FieldChange } from './field-diff';
import { docKey as key, type SiteState } from './site-state';

export interface DocumentChange {
  kind: string;
  name: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted';
  changes: FieldChange[];
}

/** What a change does, worked out against the in-memory site before anything is compiled or stored. */
export interface ChangePlan {
  /** Documents created or changed (normalized), of any kind. */
  upsert: Document[];
  remove: DocumentRef[];
  /** The new quarantine list; omitted: unchanged. */
  quarantined?: string[];
  /** Keys of the documents the request named (their warnings are shown). */
  named: Set<string>;
  changes: DocumentChange[];
  /** Checks against the store inside the change's transaction, before anything is compiled (the version check). */
  verify?: () => Promise<void>;
  write: () => Promise<void>;
}


export function docAfter(site: SiteState, p: ChangePlan, kind: string, name: string): Document | undefined {
  if (p.remove.some((r) => r.kind === kind && r.name === name)) return undefined;
  return p.upsert.find((d) => d.kind === kind && d.metadata.name === name) ?? site.docs.get(kind, name);
}

/** The Devices and Segments after the change (what the tracer needs of the documents). */
export function docsAfter(site: SiteState, p: ChangePlan): Document[] {
  const out = new Map<string, Document>();
  for (const d of [...site.docs.of('Device'), ...site.docs.of('Segment')]) out.set(key(d.kind, d.metadata.name), d);
  for (const r of p.remove) out.delete(key(r.kind, r.name));
  for (const d of p.upsert) if (d.kind === 'Device' || d.kind === 'Segment') out.set(key(d.kind, d.metadata.name), d);
  return [...out.values()];
}

export function testsAfter(site: SiteState, p: ChangePlan): PolicyTest[] {
  const changed = new Map(p.upsert.filter((d): d is PolicyTest => d.kind === 'PolicyTest').map((d) => [d.metadata.name, d]));
  const out: PolicyTest[] = [];
  for (const t of site.docs.of('PolicyTest')) {
    if (changed.has(t.metadata.name) || p.remove.some((r) => r.kind === 'PolicyTest' && r.name === t.metadata.name)) continue;
    out.push(t);
  }
  return [...out, ...changed.values()];
}

/**
 * Compiler errors that concern the documents (say, overlapping CIDRs) are the
 * user's to fix: 400. A compiler that threw half-way holds no trustworthy state:
 * `drop` makes the next change load the site afresh.
 */
export function compileOrExplain(compiler: IncrementalCompiler, change: Parameters<IncrementalCompiler['update']>[0], generation: number, drop: () => void) {
  try {
    return compiler.update(change, generation);
  } catch (err) {
    drop();
    const issues = (err as { issues?: Issue[] }).issues;
    if (err instanceof DocumentValidationError) throw err;
    if (Array.isArray(issues)) throw new DocumentValidationError(issues.map((i) => ({ ...i, document: i.document ?? -1 })));
    throw err;
  }
}
