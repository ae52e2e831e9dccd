// SPDX-License-Identifier: Apache-2.0
/**
 * One ACL of a MUD file to Entries (mud-model.ts): the remote end (a network,
 * a DNS name, a MUD abstraction or every address), the action and the rule.
 * The device is the source of a from-device ACL and the destination of a
 * to-device one; `ietf-mud:direction-initiated` says which side opens, and an
 * ACE for the other side's replies needs no rule (the datapath is stateful).
 * Every part that cannot be mapped is an issue naming the ACE and the field.
 */
import type { Rule } from '../policy/schema';
import { Entry, isObj, Json, MudIssue, Peer } from './mud-model';

const PROTO: Record<number, Rule['protocol']> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };
const ACL_TYPES = ['ipv4-acl-type', 'ipv6-acl-type'];
const ECHO_TYPES = [0, 8, 128, 129];

export interface AclContext {
  dir: 'from-device' | 'to-device';
  /** The file's own mud-url (same-manufacturer and my-controller refer to it). */
  mudUrl: string | null;
  ownAuthority: string | null;
  issues: MudIssue[];
  notes: string[];
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

const NETWORK_RE = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

/** The `ietf-mud:mud` match: one abstraction, as a peer. */
function abstraction(v: unknown, where: string, ctx: AclContext): { peer: Peer; field: string } | null {
  const { issues } = ctx;
  if (!isObj(v) || Object.keys(v).length !== 1) {
    issues.push({ where, field: 'matches.ietf-mud:mud', message: 'expected exactly one of local-networks, same-manufacturer, manufacturer, model, my-controller, controller' });
    return null;
  }
  const [c, x] = Object.entries(v)[0];
  const field = `matches.ietf-mud:mud.${c}`;
  const str = (what: string) => {
    if (typeof x === 'string' && x.length > 0) return x;
    issues.push({ where, field, message: `expected ${what}, got ${JSON.stringify(x)}` });
    return null;
  };
  switch (c) {
    case 'local-networks':
      return { peer: { kind: 'local-networks' }, field };
    case 'same-manufacturer':
      if (!ctx.ownAuthority) {
        issues.push({ where, field, message: 'same-manufacturer needs the file\'s own https mud-url, whose authority names the manufacturer' });
        return null;
      }
      return { peer: { kind: 'manufacturer', authority: ctx.ownAuthority, same: true }, field };
    case 'manufacturer': {
      const a = str('a manufacturer authority such as "example.com"');
      return a ? { peer: { kind: 'manufacturer', authority: a.toLowerCase(), same: false }, field } : null;
    }
    case 'model': {
      const u = str('a MUD URL');
      return u ? { peer: { kind: 'model', url: u }, field } : null;
    }
    case 'my-controller':
      if (!ctx.mudUrl) {
        issues.push({ where, field, message: 'my-controller is the controller configured for this file\'s mud-url, and the file has none' });
        return null;
      }
      return { peer: { kind: 'controller', uri: ctx.mudUrl, mine: true }, field };
    case 'controller': {
      const u = str('a controller class URI');
      return u ? { peer: { kind: 'controller', uri: u, mine: false }, field } : null;
    }
    default:
      issues.push({ where, field, message: `${c} is not a MUD abstraction (local-networks, same-manufacturer, manufacturer, model, my-controller, controller)` });
      return null;
  }
}

export function parseAcl(acl: Json, ctx: AclContext, out: Entry[]): void {
  const { dir, issues, notes } = ctx;
  const aclWhere = `acl ${acl.name}`;
  const type = typeof acl.type === 'string' ? acl.type.replace(/^ietf-access-control-list:/, '') : acl.type;
  if (type !== undefined && !ACL_TYPES.includes(type)) {
    issues.push({ where: aclWhere, field: 'type', message: `${acl.type} is not supported (only ipv4-acl-type and ipv6-acl-type: Cordon policies are IP)` });
    return;
  }
  const aces = isObj(acl.aces) ? acl.aces.ace : undefined;
  if (!Array.isArray(aces)) {
    issues.push({ where: aclWhere, field: 'aces.ace', message: 'expected a list of ACEs' });
    return;
  }
  const remote = dir === 'from-device' ? 'destination' : 'source';
  const own = dir === 'from-device' ? 'source' : 'destination';
  aces.forEach((ace, i) => {
    const where = `${aclWhere} ace ${isObj(ace) && typeof ace.name === 'string' ? ace.name : `#${i}`}`;
    if (!isObj(ace)) return issues.push({ where, field: '(ace)', message: 'expected an object' });
    const fwd = isObj(ace.actions) ? ace.actions.forwarding : undefined;
    const fw = typeof fwd === 'string' ? fwd.replace(/^ietf-access-control-list:/, '') : fwd;
    if (fw !== 'accept' && fw !== 'drop' && fw !== 'reject') return issues.push({ where, field: 'actions.forwarding', message: `expected accept, drop or reject, got ${JSON.stringify(fwd)}` });
    const m = isObj(ace.matches) ? ace.matches : {};
    const before = issues.length;
    let protocol: number | null = null;
    let peer: Peer = { kind: 'world' };
    let peerField = 'matches';
    const setPeer = (p: Peer, field: string) => {
      if (peer.kind !== 'world') issues.push({ where, field, message: `the ACE already names its ${remote} in ${peerField}; one remote end per ACE` });
      peer = p;
      peerField = field;
    };
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
          } else if (f === 'ietf-acldns:dst-dnsname' || f === 'ietf-acldns:src-dnsname') {
            const side = f.startsWith('ietf-acldns:dst') ? 'destination' : 'source';
            if (side === own) issues.push({ where, field, message: `in a ${dir} ACL the device is the ${own}; a DNS name for the device itself cannot be mapped` });
            else if (typeof x !== 'string' || !x) issues.push({ where, field, message: `expected a DNS name, got ${JSON.stringify(x)}` });
            else setPeer({ kind: 'fqdn', name: x.toLowerCase().replace(/\.$/, '') }, field);
          } else if (f === `destination-${k}-network` || f === `source-${k}-network`) {
            if (f.startsWith(own)) issues.push({ where, field, message: `in a ${dir} ACL the device is the ${own}; matching its own address is not supported` });
            else if (typeof x !== 'string' || !NETWORK_RE.test(x)) issues.push({ where, field, message: `expected a network such as 192.0.2.0/24, got ${JSON.stringify(x)}` });
            else setPeer({ kind: 'cidr', cidr: x }, field);
          } else {
            issues.push({ where, field, message: `${f} matches are not supported (Cordon rules match protocol, peer and destination port)` });
          }
        }
      } else if (k === 'tcp' || k === 'udp') {
        const want = k === 'tcp' ? 6 : 17;
        if (protocol !== null && protocol !== want) issues.push({ where, field: `matches.${k}`, message: `${k} match with ip protocol ${protocol}` });
        protocol = want;
      } else if (k === 'icmp') {
        // types checked below
      } else if (k === 'ietf-mud:mud') {
        const a = abstraction(v, where, ctx);
        if (a) setPeer(a.peer, a.field);
      } else if (k === 'eth') {
        issues.push({ where, field: 'matches.eth', message: 'Ethernet matches are not supported (Cordon policies are IP)' });
      } else {
        issues.push({ where, field: `matches.${k}`, message: `${k} matches are not supported` });
      }
    }
    if (issues.length > before) return;

    const l4name = isObj(m.tcp) ? 'tcp' : isObj(m.udp) ? 'udp' : null;
    const l4 = l4name ? (m[l4name] as Json) : null;
    const initiated = l4?.['ietf-mud:direction-initiated'];
    if (initiated !== undefined && initiated !== 'from-device' && initiated !== 'to-device') {
      issues.push({ where, field: `matches.${l4name}.ietf-mud:direction-initiated`, message: `expected from-device or to-device, got ${JSON.stringify(initiated)}` });
      return;
    }
    if (initiated !== undefined && initiated !== dir) {
      notes.push(`${where}: reply traffic of connections initiated ${initiated === 'from-device' ? 'by' : 'towards'} the device — covered by connection tracking, no rule`);
      return;
    }
    const rule = { protocol: protocol === null ? 'any' : (PROTO[protocol] ?? protocol) } as Rule;
    let sourcePorts: string[] | undefined;
    if (l4) {
      for (const f of Object.keys(l4)) {
        const field = `matches.${l4name}.${f}`;
        if (f === 'destination-port') {
          const p = ports(l4[f], where, field, issues);
          if (p) (rule as { ports?: string[] }).ports = p;
        } else if (f === 'source-port') {
          const p = ports(l4[f], where, field, issues);
          if (p) sourcePorts = p;
        } else if (f !== 'ietf-mud:direction-initiated') {
          issues.push({ where, field, message: `${f} matches are not supported` });
        }
      }
      if (sourcePorts && (rule as { ports?: string[] }).ports) {
        issues.push({ where, field: `matches.${l4name}.source-port`, message: 'source-port beside destination-port is not supported (Cordon rules match the destination port)' });
      } else if (sourcePorts && initiated === dir) {
        issues.push({ where, field: `matches.${l4name}.source-port`, message: 'source-port on the initiating side is not supported (Cordon rules match the destination port)' });
      }
    }
    if (isObj(m.icmp)) {
      const t = m.icmp.type;
      if (protocol !== 1 && protocol !== 58) issues.push({ where, field: 'matches.icmp', message: 'icmp matches need ip protocol 1 or 58' });
      else if (t !== undefined) {
        if (!Number.isInteger(t) || t < 0 || t > 255) issues.push({ where, field: 'matches.icmp.type', message: `expected a type number 0-255, got ${JSON.stringify(t)}` });
        else (rule as { types?: number[] }).types = [t];
      }
      const code = m.icmp.code;
      if (code !== undefined && !(code === 0 && ECHO_TYPES.includes(t))) {
        issues.push({ where, field: 'matches.icmp.code', message: 'ICMP code matches are not supported (Cordon rules match types; code 0 of echo is implied)' });
      }
    }
    if (issues.length > before) return;
    out.push({ dir, action: fw === 'accept' ? 'allow' : 'deny', peer, peerField, rule, where, ...(sourcePorts ? { sourcePorts } : {}) });
  });
}

/**
 * ACEs matching only a source port are the reply leg of a connection the
 * other direction's ACEs open (the way generators write the return path
 * without direction-initiated): a mirror (same peer, protocol, and that port
 * as destination) makes them a note; none makes them an issue.
 */
export function resolveReplyLegs(entries: Entry[], issues: MudIssue[], notes: string[]): Entry[] {
  const key = (e: Entry) => `${JSON.stringify(e.peer)}|${e.rule.protocol}`;
  const types = (e: Entry) => JSON.stringify((e.rule as { types?: number[] }).types ?? []);
  return entries.filter((e) => {
    // An echo reply (ICMP 0, ICMPv6 129) answering the other direction's echo request (8, 128) to the same peer.
    const echo = e.rule.protocol === 'icmp' ? [0, 8] : e.rule.protocol === 'icmpv6' ? [129, 128] : null;
    if (echo && types(e) === `[${echo[0]}]` && e.action === 'allow') {
      const req = entries.find((o) => o.dir !== e.dir && o.action === 'allow' && key(o) === key(e) && types(o) === `[${echo[1]}]`);
      if (req) {
        notes.push(`${e.where}: echo replies to ${req.where} — covered by connection tracking, no rule`);
        return false;
      }
    }
    if (!e.sourcePorts) return true;
    const mirror = entries.find((o) => o.dir !== e.dir && !o.sourcePorts && key(o) === key(e) && JSON.stringify(o.rule.ports ?? []) === JSON.stringify(e.sourcePorts));
    const l4 = e.rule.protocol === 'tcp' ? 'tcp' : 'udp';
    if (mirror) notes.push(`${e.where}: replies to ${mirror.where} (source port ${e.sourcePorts.join(',')}) — covered by connection tracking, no rule`);
    else issues.push({ where: e.where, field: `matches.${l4}.source-port`, message: `a source-port match is only mapped as the reply leg of an ACE in the other direction to port ${e.sourcePorts.join(',')}, and there is none` });
    return false;
  });
}
