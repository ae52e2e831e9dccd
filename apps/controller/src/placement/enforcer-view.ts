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
 *     rules are left out. Only those pairs are compiled again, from the
 *     policies covering them; the others are the site's entries as they are.
 *
 * Identity numbers and rule ids are the site's (the view compiles with the
 * generation's identities and rules), so flow counters and traces name the
 * same things on every enforcer. What is left out is decided by the set of
 * documents left out, not by the labels themselves: enforcers whose labels
 * leave out the same documents share one view (placementKey).
 */
import type { PolicyEntry } from '../../../../native/lib/abi';
import type { Bundle } from '../../../../model/generation/bundle';
import { comparePolicy } from '../../../../model/generation/keys';
import { bundleHash } from '../../../../model/generation/digest';
import { selectorMatchesEnforcer, type Labels } from '../../../../model/placement/labels';
import { compile } from '../compiler/compile';
import { segmentResolvers } from '../compiler/fqdn-refs';
import { targetRefs, targetSegments, type Document, type Policy, type Segment } from '../policy/schema';

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
/** The Segments and Policies that say `enforcers:`, found once per set of documents (a generation's), not once per enforcer. */
const placedOf = new WeakMap<readonly Document[], readonly (Segment | Policy)[]>();
function placed(docs: readonly Document[]): readonly (Segment | Policy)[] {
  let p = placedOf.get(docs);
  if (!p) placedOf.set(docs, (p = docs.filter((d): d is Segment | Policy => (d.kind === 'Segment' || d.kind === 'Policy') && d.spec.enforcers !== undefined)));
  return p;
}

export function anyPlaced(docs: readonly Document[]): boolean {
  return placed(docs).length > 0;
}

/** What is left out on an enforcer with these labels. */
export function placementOf(docs: readonly Document[], labels: Labels): Placement {
  const segments: string[] = [];
  const policies: string[] = [];
  for (const d of placed(docs)) {
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
 * with its own digest and the same generation number. `defaultResolvers`: the
 * --dns-resolver the site was compiled with.
 */
export function viewBundle(site: Bundle, docs: readonly Document[], p: Placement, defaultResolvers: readonly string[] = []): Bundle {
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
    const gone = new Set(p.policies);
    rules = site.rules.filter((r) => !gone.has(r.policy));
    policy = recompilePairs(site, docs, gone);
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
  // the resolvers of the segments that exist here, and the site's defaults (--dns-resolver) if one of them declares none
  const dns = segmentResolvers(docs.filter((d): d is Segment => d.kind === 'Segment' && !goneSegments.has(d.metadata.name)), defaultResolvers);
  if (dns) view.dnsResolvers = dns;
  view.hash = bundleHash(view);
  return view;
}

/**
 * The site's policy entries with the pairs that `gone` (policies left out)
 * cover compiled again from the other policies covering them, numbered as the
 * site numbers them; every other pair is the site's as it is.
 */
function recompilePairs(site: Bundle, docs: readonly Document[], gone: ReadonlySet<string>): PolicyEntry[] {
  const ids = (names: readonly string[]) => names.map((n) => site.identities[n]).filter((id): id is number => id !== undefined);
  const pair = (src: number, dst: number) => src * 0x1_0000_0000 + dst;
  const touched = new Set<number>();
  const policies: Policy[] = [];
  for (const d of docs) if (d.kind === 'Policy') policies.push(d);
  for (const d of policies) {
    if (!gone.has(d.metadata.name)) continue;
    const tos = ids(targetRefs(d.spec.to));
    for (const s of ids(d.spec.from)) for (const t of tos) touched.add(pair(s, t));
  }
  const covers = (d: Policy) => {
    const tos = ids(targetRefs(d.spec.to));
    return ids(d.spec.from).some((s) => tos.some((t) => touched.has(pair(s, t))));
  };
  // Those policies and the segments they name (identities come from the site's numbering).
  const kept: Document[] = [];
  const named = new Set<string>();
  for (const d of policies) {
    if (gone.has(d.metadata.name) || !covers(d)) continue;
    kept.push(d);
    for (const n of [...d.spec.from, ...targetSegments(d.spec.to)]) named.add(n);
  }
  for (const d of docs) if (d.kind === 'Segment' && named.has(d.metadata.name)) kept.push(d);
  const fresh = compile(kept, { identities: site.identities, generation: site.generation, rules: site.rules }).policy.filter((e) => touched.has(pair(e.srcIdentity, e.dstIdentity)));
  return site.policy.filter((e) => !touched.has(pair(e.srcIdentity, e.dstIdentity))).concat(fresh).sort(comparePolicy);
}
