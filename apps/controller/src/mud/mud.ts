// SPDX-License-Identifier: Apache-2.0
/**
 * RFC 8520 Manufacturer Usage Descriptions (JSON) to Cordon documents
 * (DESIGN.md "MUD"): a Segment for the device type (devices join by the
 * label `mud-type`), the Segments its peers need (mud-peers.ts), and one
 * Policy per direction, remote end and action. The ACL container may be
 * spelt `ietf-access-control-list:acls` (the RFC) or
 * `ietf-access-control-list:access-lists` (the common generators).
 *
 * What Cordon cannot express is an error naming the file, the ACL, the ACE
 * and the field, never a silent drop (mud-ace.ts), and nothing is imported.
 */
import { API_VERSION, Document } from '../policy/schema';
import { parseAcl, resolveReplyLegs } from './mud-ace';
import { Entry, isObj, Json, MUD_LABELS, modelId, mudAuthority, MudImportError, MudIssue, typeNameOfUrl, deviceTypeName } from './mud-model';
import { Endpoint, PeerMapper, SiteContext } from './mud-peers';

export { MudImportError, deviceTypeName };
export type { MudIssue };

export interface MudImport {
  name: string;
  mudUrl: string | null;
  /** The detached CMS signature's URL (`mud-signature`), if the file names one. */
  signatureUrl: string | null;
  /** `cache-validity` in hours (RFC 8520: 1-168, default 48). */
  cacheValidityHours: number;
  /** Labels a device announcing this MUD URL carries (the MUD manager sets them). */
  deviceLabels: Record<string, string>;
  documents: Document[];
  notes: string[];
}

export interface ImportOptions extends SiteContext {
  /** The device type's name (default: from the mud-url). */
  name?: string;
  /** Where the file came from, for issues. */
  file?: string;
}

const CONTAINERS = ['ietf-access-control-list:acls', 'ietf-access-control-list:access-lists'] as const;

function readAcls(doc: Json, issues: MudIssue[]): Map<string, Json> {
  const acls = new Map<string, Json>();
  const present = CONTAINERS.filter((c) => doc[c] !== undefined);
  if (!present.length) {
    issues.push({ where: 'mud', field: CONTAINERS.join(' or '), message: 'missing: the ACLs the policies name' });
    return acls;
  }
  for (const c of present) {
    const list = isObj(doc[c]) ? doc[c].acl : undefined;
    if (!Array.isArray(list)) {
      issues.push({ where: 'mud', field: `${c}.acl`, message: 'expected a list of ACLs' });
      continue;
    }
    list.forEach((a, i) => {
      if (!isObj(a) || typeof a.name !== 'string') issues.push({ where: `acl #${i}`, field: 'name', message: 'an ACL needs a name' });
      else if (acls.has(a.name)) issues.push({ where: `acl ${a.name}`, field: 'name', message: 'defined twice' });
      else acls.set(a.name, a);
    });
  }
  return acls;
}

export function importMud(input: string | unknown, opts: ImportOptions = {}): MudImport {
  const file = opts.file ?? 'mud';
  const fail = (issues: MudIssue[]) => new MudImportError(issues, file);
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw fail([{ where: 'mud', field: '(file)', message: `not JSON: ${(err as Error).message}` }]);
    }
  }
  if (!isObj(doc)) throw fail([{ where: 'mud', field: '(file)', message: 'expected a JSON object' }]);
  const mud = doc['ietf-mud:mud'];
  if (!isObj(mud)) throw fail([{ where: 'mud', field: 'ietf-mud:mud', message: 'missing: an RFC 8520 MUD file has an "ietf-mud:mud" container' }]);
  const issues: MudIssue[] = [];
  const acls = readAcls(doc, issues);
  if (issues.length) throw fail(issues);
  if (mud['mud-version'] !== undefined && mud['mud-version'] !== 1) issues.push({ where: 'mud', field: 'ietf-mud:mud.mud-version', message: `only version 1 is known, got ${mud['mud-version']}` });
  const mudUrl = typeof mud['mud-url'] === 'string' ? mud['mud-url'] : null;
  if (mudUrl !== null && !mudAuthority(mudUrl)) issues.push({ where: 'mud', field: 'ietf-mud:mud.mud-url', message: `a MUD URL is an https URL, got ${JSON.stringify(mudUrl)}` });
  const cv = mud['cache-validity'] ?? 48;
  if (!Number.isInteger(cv) || cv < 1 || cv > 168) issues.push({ where: 'mud', field: 'ietf-mud:mud.cache-validity', message: `cache-validity is 1-168 hours, got ${JSON.stringify(cv)}` });
  const sig = mud['mud-signature'];
  if (sig !== undefined && (typeof sig !== 'string' || !mudAuthority(sig))) issues.push({ where: 'mud', field: 'ietf-mud:mud.mud-signature', message: `expected an https URL, got ${JSON.stringify(sig)}` });

  const name = deviceTypeName(opts.name ?? (mudUrl ? typeNameOfUrl(mudUrl) : String(mud['model-name'] ?? mud.systeminfo ?? '')));
  const notes: string[] = [];
  let entries: Entry[] = [];
  for (const [dir, key] of [['from-device', 'from-device-policy'], ['to-device', 'to-device-policy']] as const) {
    const pol = mud[key];
    if (pol === undefined) continue;
    const names = isObj(pol) && isObj(pol['access-lists']) ? pol['access-lists']['access-list'] : undefined;
    if (!Array.isArray(names)) {
      issues.push({ where: 'mud', field: `ietf-mud:mud.${key}.access-lists.access-list`, message: 'expected a list of {"name": ACL}' });
      continue;
    }
    for (const ref of names) {
      const acl = acls.get(isObj(ref) ? ref.name : undefined);
      if (!acl) {
        issues.push({ where: 'mud', field: `ietf-mud:mud.${key}`, message: `names ACL ${JSON.stringify(isObj(ref) ? ref.name : ref)}, which the file does not define` });
        continue;
      }
      parseAcl(acl, { dir, mudUrl, ownAuthority: mudUrl ? mudAuthority(mudUrl) : null, issues, notes }, entries);
    }
  }
  entries = resolveReplyLegs(entries, issues, notes);

  const ownLabels: Record<string, string> = { [MUD_LABELS.type]: name };
  if (mudUrl) {
    const a = mudAuthority(mudUrl);
    if (a && a.length <= 63) ownLabels[MUD_LABELS.manufacturer] = a;
    ownLabels[MUD_LABELS.model] = modelId(mudUrl);
  }
  const peers = new PeerMapper(name, ownLabels, opts, issues);
  const policies = new Map<string, { apiVersion: string; kind: 'Policy'; metadata: { name: string; labels: Record<string, string> }; spec: { from: Endpoint[]; to: Endpoint[]; allow?: Json[]; deny?: Json[]; mode: 'enforce' } }>();
  const keys = new Map<string, string>(); // direction|peer|action -> policy name
  for (const e of entries) {
    const mapped = peers.map(e);
    if (!mapped) continue;
    const k = `${e.dir}|${JSON.stringify(mapped.endpoints)}|${e.action}`;
    let pname = keys.get(k);
    if (!pname) {
      const base = `${name}-${e.dir === 'from-device' ? 'to' : 'from'}-${mapped.slug}${e.action === 'deny' ? '-deny' : ''}`.slice(0, 60).replace(/-+$/, '');
      pname = base;
      for (let n = 2; policies.has(pname); n++) pname = `${base}-${n}`;
      keys.set(k, pname);
      const [from, to] = e.dir === 'from-device' ? [[name], mapped.endpoints] : [mapped.endpoints, [name]];
      policies.set(pname, { apiVersion: API_VERSION, kind: 'Policy', metadata: { name: pname, labels: { [MUD_LABELS.type]: name } }, spec: { from, to, mode: 'enforce' } });
    }
    const p = policies.get(pname)!;
    const list = (p.spec[e.action] ??= []);
    if (!list.some((r) => JSON.stringify(r) === JSON.stringify(e.rule))) list.push(e.rule);
  }
  if (issues.length) throw fail(issues);
  if (!policies.size) throw fail([{ where: 'mud', field: 'ietf-mud:mud', message: 'no from-device-policy or to-device-policy ACE that needs a rule: nothing to import' }]);

  const documents = [
    { apiVersion: API_VERSION, kind: 'Segment', metadata: { name, labels: ownLabels }, spec: { cidrs: [], selector: { [MUD_LABELS.type]: name }, mode: 'enforce', onAnomaly: 'alert' } },
    ...peers.segments.values(),
    ...policies.values(),
  ] as Document[];
  if ([...policies.values()].some((p) => p.spec.from.includes('world') || p.spec.to.includes('world'))) {
    notes.push('ACEs without an address match became policies to or from `world` (every address no segment claims)');
  }
  return { name, mudUrl, signatureUrl: typeof sig === 'string' ? sig : null, cacheValidityHours: Number.isInteger(cv) ? cv : 48, deviceLabels: { [MUD_LABELS.type]: name }, documents, notes };
}
