// SPDX-License-Identifier: Apache-2.0
/**
 * One enforcer's view of a generation (DESIGN.md "Context: when and where"):
 * the bundle without what does not apply where it runs.
 *
 *   - A Segment whose `enforcers:` does not match the enforcer's labels does
 *     not exist there: its identity, its CIDRs' and its devices' ipcache
 *     entries and every policy entry from or to it are left out (its devices'
 *     addresses are unknown there: world, like any address no segment holds).
 *   - A Policy whose `enforcers:` does not match does not apply there: the
 *     pairs it covers are compiled from the other policies only (a deny of a
 *     policy that applies elsewhere does not shadow an allow here), and its
 *     rules are left out.
 *
 * Identity numbers and rule ids are the site's (the view compiles with the
 * generation's identities and rules), so flow counters and traces name the
 * same things on every enforcer. What is left out is decided by the set of
 * documents left out, not by the labels themselves: enforcers whose labels
 * leave out the same documents share one view (placementKey).
 */
import type { Bundle } from '../../../../model/generation/bundle';
import { bundleHash } from '../../../../model/generation/digest';
import { selectorMatchesEnforcer, type Labels } from '../../../../model/placement/labels';
import { compile } from '../compiler/compile';
import type { Document, Policy, Segment } from '../policy/schema';

export interface Placement {
  /** Segments that do not exist on this enforcer, sorted. */
  segments: string[];
  /** Policies that do not apply on this enforcer, sorted. */
  policies: string[];
  /** '' when nothing is left out (the site's own bundle); else names both lists. */
  key: string;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Whether any document is placed at all: without one, every enforcer holds the site's bundle. */
export function anyPlaced(docs: readonly Document[]): boolean {
  return docs.some((d) => (d.kind === 'Segment' || d.kind === 'Policy') && d.spec.enforcers !== undefined);
}

/** What is left out on an enforcer with these labels. */
export function placementOf(docs: readonly Document[], labels: Labels): Placement {
  const segments: string[] = [];
  const policies: string[] = [];
  for (const d of docs) {
    if (d.kind !== 'Segment' && d.kind !== 'Policy') continue;
    if (selectorMatchesEnforcer(d.spec.enforcers, labels)) continue;
    (d.kind === 'Segment' ? segments : policies).push(d.metadata.name);
  }
  segments.sort(cmp);
  policies.sort(cmp);
  const key = segments.length || policies.length ? `segments:${segments.join(',')};policies:${policies.join(',')}` : '';
  return { segments, policies, key };
}

/**
 * The bundle an enforcer with placement `p` holds: `site` (the generation's
 * bundle, compiled from `docs`) when nothing is left out, else a new bundle
 * with its own digest and the same generation number.
 */
export function viewBundle(site: Bundle, docs: readonly Document[], p: Placement): Bundle {
  if (p.key === '') return site;
  const goneSegments = new Set(p.segments);
  const goneIds = new Set<number>();
  const identities: Record<string, number> = {};
  for (const [name, id] of Object.entries(site.identities)) {
    if (goneSegments.has(name)) goneIds.add(id);
    else identities[name] = id;
  }
  let policy = site.policy;
  let rules = site.rules;
  if (p.policies.length) {
    // The pairs from the policies that apply here, numbered as the site numbers them.
    const gone = new Set(p.policies);
    const kept = docs.filter((d): d is Segment | Policy => d.kind === 'Segment' || (d.kind === 'Policy' && !gone.has(d.metadata.name)));
    const compiled = compile(kept, { identities: site.identities, generation: site.generation, rules: site.rules });
    policy = compiled.policy;
    rules = compiled.rules;
  }
  const view: Bundle = {
    generation: site.generation,
    hash: '',
    identities,
    ipcache: site.ipcache.filter((e) => !goneIds.has(e.identity)),
    policy: goneIds.size ? policy.filter((e) => !goneIds.has(e.srcIdentity) && !goneIds.has(e.dstIdentity)) : policy,
    rules,
    warnings: site.warnings,
  };
  if (site.auditAll !== undefined) view.auditAll = site.auditAll;
  view.hash = bundleHash(view);
  return view;
}
