// SPDX-License-Identifier: Apache-2.0
/**
 * RFC 8520 Manufacturer Usage Descriptions (JSON) to Cordon documents: a
 * Segment for the device type (devices join by the label `mud-type`), a
 * Segment per peer network the ACEs name, and one Policy per direction.
 *
 * What Cordon cannot express is an error naming the ACL, the ACE and the
 * field, never a silent drop: DNS names (`ietf-acldns:*-dnsname`, there is no
 * resolver in the datapath), the MUD classes (manufacturer, same-manufacturer,
 * model, local-networks, controller, my-controller: Cordon has no notion of
 * them), source-port matches on initiating traffic, Ethernet ACLs, TCP flags.
 * Replies need no ACE: the datapath is stateful, so an ACE for the return
 * direction of a connection the other ACL opens (direction-initiated naming
 * the other side) is recognised and covered by that ACL.
 */
import { API_VERSION, Document, Policy, Rule, Segment } from '../policy/schema';

export interface MudIssue {
  /** `acl NAME ace NAME` or `mud`. */
  where: string;
  /** JSON path inside it, e.g. `matches.ipv6.ietf-acldns:dst-dnsname`. */
  field: string;
  message: string;
}

export class MudImportError extends Error {
  constructor(readonly issues: MudIssue[]) {
    super(`MUD file refused:\n${issues.map((i) => `  ${i.where}: ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'MudImportError';
  }
}

export interface MudImport {
  name: string;
  mudUrl: string | null;
  documents: Document[];
  notes: string[];
}

type Json = Record<string, any>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deviceTypeName(s: string): string {
  const n = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').replace(/-+/g, '-').slice(0, 40).replace(/-+$/, '');
  return n || 'mud-device';
}

const PROTO: Record<number, Rule['protocol']> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };

interface PortMatch {
  ports?: string[];
}

function ports(m: unknown, where: string, field: string, issues: MudIssue[]): string[] | null {
  if (!isObj(m)) {
    issues.push({ where, field, message: 'expected an object with operator and port, or lower-port and upper-port' });
    return null;
  }
  if ('lower-port' in m || 'upper-port' in m) {
    const lo = Number(m['lower-port']);
    const hi = Number(m['upper-port']);
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 65535 || lo > hi) {
      issues.push({ where, field, message: `a port range needs 0 <= lower-port <= upper-port <= 65535, got ${m['lower-port']}-${m['upper-port']}` });
      return null;
    }
    return [lo === hi ? String(lo) : `${lo}-${hi}`];
  }
  const p = Number(m.port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    issues.push({ where, field: `${field}.port`, message: `a port is 0-65535, got ${JSON.stringify(m.port)}` });
    return null;
  }
  switch (m.operator ?? 'eq') {
    case 'eq':
      return [String(p)];
    case 'lte':
      return [p === 0 ? '0' : `0-${p}`];
    case 'gte':
      return [p === 65535 ? '65535' : `${p}-65535`];
    case 'neq':
      return [...(p > 0 ? [p === 1 ? '0' : `0-${p - 1}`] : []), ...(p < 65535 ? [p === 65534 ? '65535' : `${p + 1}-65535`] : [])];
    default:
      issues.push({ where, field: `${field}.operator`, message: `operator ${JSON.stringify(m.operator)} is not one of eq, lte, gte, neq` });
      return null;
  }
}

interface Entry {
  action: 'allow' | 'deny';
  peer: string | null;
  rule: Rule;
}

export function importMud(input: string | unknown, opts: { name?: string } = {}): MudImport {
  const issues: MudIssue[] = [];
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw new MudImportError([{ where: 'mud', field: '(file)', message: `not JSON: ${(err as Error).message}` }]);
    }
  }
  if (!isObj(doc)) throw new MudImportError([{ where: 'mud', field: '(file)', message: 'expected a JSON object' }]);
  const mud = doc['ietf-mud:mud'];
  if (!isObj(mud)) throw new MudImportError([{ where: 'mud', field: 'ietf-mud:mud', message: 'missing: an RFC 8520 MUD file has an "ietf-mud:mud" container' }]);
  const aclsRoot = doc['ietf-access-control-list:acls'];
  const aclList = isObj(aclsRoot) ? aclsRoot.acl : undefined;
  if (!Array.isArray(aclList)) throw new MudImportError([{ where: 'mud', field: 'ietf-access-control-list:acls.acl', message: 'missing: the ACLs the policies name' }]);
  if (mud['mud-version'] !== undefined && mud['mud-version'] !== 1) issues.push({ where: 'mud', field: 'ietf-mud:mud.mud-version', message: `only version 1 is known, got ${mud['mud-version']}` });

  const mudUrl = typeof mud['mud-url'] === 'string' ? mud['mud-url'] : null;
  const name = deviceTypeName(opts.name ?? (mudUrl ? mudUrl.replace(/\.json$/, '').split('/').filter(Boolean).pop() ?? '' : String(mud.systeminfo ?? '')));
  const acls = new Map<string, Json>();
  aclList.forEach((a, i) => {
    if (!isObj(a) || typeof a.name !== 'string') issues.push({ where: `acl #${i}`, field: 'name', message: 'an ACL needs a name' });
    else acls.set(a.name, a);
  });

  const notes: string[] = [];
  const peers = new Map<string, string>(); // cidr -> segment name
  const peerSegment = (cidr: string) => {
    let s = peers.get(cidr);
    if (!s) peers.set(cidr, (s = `${name}-peer-${peers.size + 1}`));
    return s;
  };

  const directions: Array<['from-device' | 'to-device', string]> = [
    ['from-device', 'from-device-policy'],
    ['to-device', 'to-device-policy'],
  ];
  const entries: Record<'from-device' | 'to-device', Entry[]> = { 'from-device': [], 'to-device': [] };
  for (const [dir, key] of directions) {
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
      parseAcl(acl, dir, entries[dir], issues, notes, peerSegment);
    }
  }
  if (issues.length) throw new MudImportError(issues);
  if (!entries['from-device'].length && !entries['to-device'].length) throw new MudImportError([{ where: 'mud', field: 'ietf-mud:mud', message: 'no from-device-policy or to-device-policy ACE: nothing to import' }]);

  const documents: Document[] = [];
  documents.push({
    apiVersion: API_VERSION,
    kind: 'Segment',
    metadata: { name, labels: { 'mud-type': name } },
    spec: { cidrs: [], selector: { 'mud-type': name }, mode: 'enforce', onAnomaly: 'alert' },
  } as Segment);
  for (const [cidr, seg] of peers) {
    documents.push({ apiVersion: API_VERSION, kind: 'Segment', metadata: { name: seg, labels: { 'mud-peer-of': name } }, spec: { cidrs: [cidr], selector: {}, mode: 'enforce', onAnomaly: 'alert' } } as Segment);
  }
  // One policy per direction, peer and action.
  const policies = new Map<string, Policy>();
  for (const dir of ['from-device', 'to-device'] as const) {
    for (const e of entries[dir]) {
      const peer = e.peer ?? 'world';
      const from = dir === 'from-device' ? name : peer;
      const to = dir === 'from-device' ? peer : name;
      const pname = `${name}-${dir === 'from-device' ? 'to' : 'from'}-${peer === 'world' ? 'world' : peer.slice(name.length + 1)}${e.action === 'deny' ? '-deny' : ''}`.slice(0, 63).replace(/-+$/, '');
      let p = policies.get(pname);
      if (!p) {
        p = { apiVersion: API_VERSION, kind: 'Policy', metadata: { name: pname, labels: { 'mud-type': name } }, spec: { from: [from], to: [to], mode: 'enforce' } } as Policy;
        policies.set(pname, p);
      }
      const list = (p.spec[e.action] ??= []);
      if (!list.some((r) => JSON.stringify(r) === JSON.stringify(e.rule))) list.push(e.rule);
    }
  }
  documents.push(...policies.values());
  if ([...policies.values()].some((p) => p.spec.from.includes('world') || p.spec.to.includes('world'))) {
    notes.push('ACEs without an address match became policies to or from `world` (every address no segment claims)');
  }
  return { name, mudUrl, documents, notes };
}

const UNSUPPORTED_MUD_CLASSES: Record<string, string> = {
  manufacturer: 'the manufacturer class needs devices grouped by MUD manufacturer, which Cordon does not track',
  'same-manufacturer': 'the same-manufacturer class needs devices grouped by MUD manufacturer, which Cordon does not track',
  model: 'the model class needs devices grouped by MUD URL, which Cordon does not track',
  'local-networks': 'local-networks has no Cordon segment; write a Policy naming your local segments instead',
  controller: 'controller classes name a service the MUD controller resolves; Cordon has none — name its segment in a Policy',
  'my-controller': 'my-controller names a service the MUD controller resolves; Cordon has none — name its segment in a Policy',
};

function parseAcl(acl: Json, dir: 'from-device' | 'to-device', out: Entry[], issues: MudIssue[], notes: string[], peerSegment: (cidr: string) => string): void {
  const aclWhere = `acl ${acl.name}`;
  if (acl.type !== undefined && !['ipv4-acl-type', 'ipv6-acl-type', 'ietf-access-control-list:ipv4-acl-type', 'ietf-access-control-list:ipv6-acl-type'].includes(acl.type)) {
    issues.push({ where: aclWhere, field: 'type', message: `${acl.type} is not supported (only ipv4-acl-type and ipv6-acl-type)` });
    return;
  }
  const aces = isObj(acl.aces) ? acl.aces.ace : undefined;
  if (!Array.isArray(aces)) {
    issues.push({ where: aclWhere, field: 'aces.ace', message: 'expected a list of ACEs' });
    return;
  }
  aces.forEach((ace, i) => {
    const where = `${aclWhere} ace ${isObj(ace) && typeof ace.name === 'string' ? ace.name : `#${i}`}`;
    if (!isObj(ace)) return issues.push({ where, field: '(ace)', message: 'expected an object' });
    const fwd = isObj(ace.actions) ? ace.actions.forwarding : undefined;
    const fw = typeof fwd === 'string' ? fwd.replace(/^ietf-access-control-list:/, '') : fwd;
    if (fw !== 'accept' && fw !== 'drop' && fw !== 'reject') return issues.push({ where, field: 'actions.forwarding', message: `expected accept, drop or reject, got ${JSON.stringify(fwd)}` });
    const m = isObj(ace.matches) ? ace.matches : {};
    const before = issues.length;
    let protocol: number | null = null;
    let peer: string | null = null;
    for (const [k, v] of Object.entries(m)) {
      if (k === 'ipv4' || k === 'ipv6') {
        if (!isObj(v)) {
          issues.push({ where, field: `matches.${k}`, message: 'expected an object' });
          continue;
        }
        for (const [f, x] of Object.entries(v)) {
          const field = `matches.${k}.${f}`;
          if (f === 'protocol') {
            if (!Number.isInteger(x) || (x as number) < 0 || (x as number) > 255) issues.push({ where, field, message: `a protocol number is 0-255, got ${JSON.stringify(x)}` });
            else protocol = x as number;
          } else if (/dnsname$/.test(f)) {
            issues.push({ where, field, message: `DNS names (${JSON.stringify(x)}) are not supported: Cordon matches addresses and does not resolve names; replace it with the server's network in destination-${k}-network / source-${k}-network` });
          } else if (f === `destination-${k}-network` || f === `source-${k}-network`) {
            const wantDst = dir === 'from-device';
            if ((f.startsWith('destination') && !wantDst) || (f.startsWith('source') && wantDst)) {
              issues.push({ where, field, message: `in a ${dir} ACL the device is the ${wantDst ? 'source' : 'destination'}; matching its own address is not supported` });
            } else if (typeof x !== 'string' || !/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(x)) {
              issues.push({ where, field, message: `expected a network such as 192.0.2.0/24, got ${JSON.stringify(x)}` });
            } else peer = peerSegment(x);
          } else {
            issues.push({ where, field, message: `${f} matches are not supported (Cordon rules match protocol, peer network and destination port)` });
          }
        }
      } else if (k === 'tcp' || k === 'udp') {
        const want = k === 'tcp' ? 6 : 17;
        if (protocol !== null && protocol !== want) issues.push({ where, field: `matches.${k}`, message: `${k} match with ip protocol ${protocol}` });
        protocol = want;
      } else if (k === 'icmp') {
        // types checked below
      } else if (k === 'ietf-mud:mud') {
        for (const c of Object.keys(isObj(v) ? v : {})) {
          issues.push({ where, field: `matches.ietf-mud:mud.${c}`, message: UNSUPPORTED_MUD_CLASSES[c] ?? `${c} is not a MUD class Cordon supports` });
        }
      } else if (k === 'eth') {
        issues.push({ where, field: 'matches.eth', message: 'Ethernet matches are not supported (Cordon policies are IP)' });
      } else {
        issues.push({ where, field: `matches.${k}`, message: `${k} matches are not supported` });
      }
    }
    if (issues.length > before) return;

    // Port and direction checks
    const l4 = isObj(m.tcp) ? m.tcp : isObj(m.udp) ? m.udp : null;
    const l4name = isObj(m.tcp) ? 'tcp' : 'udp';
    const initiated = l4?.['ietf-mud:direction-initiated'];
    if (initiated !== undefined && initiated !== 'from-device' && initiated !== 'to-device') {
      issues.push({ where, field: `matches.${l4name}.ietf-mud:direction-initiated`, message: `expected from-device or to-device, got ${JSON.stringify(initiated)}` });
      return;
    }
    if (initiated !== undefined && initiated !== dir) {
      // The return leg of a connection the other direction opens: the datapath passes replies by itself.
      notes.push(`${where}: reply traffic of connections initiated ${initiated === 'from-device' ? 'by' : 'towards'} the device — covered by connection tracking, no rule`);
      return;
    }
    const rule: Rule = { protocol: protocol === null ? 'any' : (PROTO[protocol] ?? protocol) } as Rule;
    if (l4) {
      for (const f of Object.keys(l4)) {
        const field = `matches.${l4name}.${f}`;
        if (f === 'destination-port') {
          const p = ports(l4[f], where, field, issues);
          if (p) (rule as { ports?: string[] }).ports = p;
        } else if (f === 'source-port') {
          issues.push({ where, field, message: 'source-port matches on the initiating side are not supported (Cordon rules match the destination port)' });
        } else if (f !== 'ietf-mud:direction-initiated') {
          issues.push({ where, field, message: `${f} matches are not supported` });
        }
      }
    }
    if (isObj(m.icmp)) {
      if (protocol !== 1 && protocol !== 58) issues.push({ where, field: 'matches.icmp', message: 'icmp matches need ip protocol 1 or 58' });
      else if (m.icmp.type !== undefined) {
        if (!Number.isInteger(m.icmp.type)) issues.push({ where, field: 'matches.icmp.type', message: `expected a type number, got ${JSON.stringify(m.icmp.type)}` });
        else (rule as { types?: number[] }).types = [m.icmp.type];
      }
      if (m.icmp.code !== undefined) issues.push({ where, field: 'matches.icmp.code', message: 'ICMP code matches are not supported (Cordon rules match types)' });
    }
    if (issues.length > before) return;
    out.push({ action: fw === 'accept' ? 'allow' : 'deny', peer, rule });
  });
}
