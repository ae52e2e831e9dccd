/**
 * The policy compiler: documents in, a versioned bundle of datapath entries out.
 *
 * The datapath takes the single longest-prefix match of (src identity, dst
 * identity, protocol, port), so every precedence rule of DESIGN.md is resolved
 * here, before an entry is written:
 *   1. deny wins: an entry contained in (or equal to) an enforced deny block
 *      carries DENY with that deny's rule id;
 *   2. an entry contained in an audit-mode deny carries AUDIT;
 *   3. otherwise the allow stands;
 * and entries with the same key merge by enforce-deny > audit-deny > allow,
 * the lowest rule id breaking ties. Blocks are prefixes, so two blocks are
 * either nested or disjoint; every deny that covers a packet is therefore an
 * ancestor of (or equal to) the longest entry that matches it, and checking
 * each entry's ancestors (at most 18 keys) is enough.
 */
import { createHash } from 'node:crypto';
import { IDENTITY, IpcacheEntry, PolicyEntry, VERDICT } from '../../../../native/lib/abi';
import { hostPrefix, MASKS, parseAddress, parseCidr, Prefix, PrefixIndex } from '../policy/net';
import { hasPorts, icmpType, isIcmp, parsePortSpec, protocolNumber } from '../policy/protocols';
import { Device, Document, Policy, Rule, Segment } from '../policy/schema';
import { selectingSegments } from '../policy/selectors';
import { assignIdentities } from './identities';
import { icmpTypeBlocks, portBlocks } from './ports';

export interface RuleInfo {
  ruleId: number;
  policy: string;
  action: 'allow' | 'deny';
  /** Index in the policy's allow or deny list. */
  index: number;
  mode: 'enforce' | 'audit';
}

export interface Bundle {
  generation: number;
  /** sha256 (hex) of the canonical encoding of identities, ipcache, policy and rules. */
  hash: string;
  identities: Record<string, number>;
  ipcache: IpcacheEntry[];
  policy: PolicyEntry[];
  rules: RuleInfo[];
  warnings: string[];
}

export interface CompileOptions {
  /** Identities already handed out (the store persists bundle.identities). */
  identities: Record<string, number>;
  generation: number;
  /** Device names moved to the quarantine identity. */
  quarantined?: readonly string[];
}

// ---- policy keys ------------------------------------------------------------
// A key inside one identity pair, as one number: ((plen - 64) * 256 + proto) * 65536 + port.
// plen is 64 (any protocol), 72 (protocol, every port) or 80 + n (first n port bits).

export function innerKey(plen: number, proto: number, port: number): number {
  return ((plen - 64) * 256 + proto) * 65536 + port;
}

export function portMask(n: number): number {
  return n === 0 ? 0 : (0xffff << (16 - n)) & 0xffff;
}

/** Inner key of a PolicyEntry (normalised: port prefix 0 means every port). */
export function entryInnerKey(e: Pick<PolicyEntry, 'protocol' | 'port' | 'portPrefixLen'>): number {
  if (e.protocol === null) return 0;
  const n = e.portPrefixLen ?? 0;
  if (n === 0) return innerKey(72, e.protocol, 0);
  return innerKey(80 + n, e.protocol, (e.port ?? 0) & portMask(n));
}

function decodeInnerKey(k: number): { plen: number; proto: number; port: number } {
  const port = k % 65536;
  const rest = (k - port) / 65536;
  return { plen: 64 + Math.floor(rest / 256), proto: rest % 256, port };
}

const RANK_ALLOW = 0;
const RANK_AUDIT_DENY = 1;
const RANK_DENY = 2;

interface Rec {
  rank: number;
  ruleId: number;
  encrypt: boolean;
}

interface Pair {
  src: number;
  dst: number;
  entries: Map<number, Rec>;
  hasDeny: boolean;
}

/** The keys of a rule's blocks (identical for every identity pair it applies to). */
export function ruleKeys(rule: Rule): number[] {
  const proto = protocolNumber(rule.protocol);
  if (proto === null) return [innerKey(64, 0, 0)];
  let blocks: { value: number; prefixLen: number }[] | null = null;
  if (rule.ports && hasPorts(proto)) {
    blocks = portBlocks(rule.ports.map((p) => parsePortSpec(p) as [number, number]));
  } else if (rule.types && isIcmp(proto)) {
    blocks = icmpTypeBlocks(rule.types.map((t) => icmpType(proto, t) as number));
  }
  if (!blocks) return [innerKey(72, proto, 0)];
  return blocks.map((b) => (b.prefixLen === 0 ? innerKey(72, proto, 0) : innerKey(80 + b.prefixLen, proto, b.value)));
}

// ---- compile ----------------------------------------------------------------

export function compile(docs: readonly Document[], opts: CompileOptions): Bundle {
  const warnings: string[] = [];
  const byName = <T extends Document>(kind: T['kind']) =>
    (docs.filter((d) => d.kind === kind) as T[]).sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  const segments = byName<Segment>('Segment');
  const devices = byName<Device>('Device');
  const policies = byName<Policy>('Policy');

  const identities = assignIdentities(
    segments.map((s) => s.metadata.name),
    opts.identities,
  );

  const ipcache = compileIpcache(segments, devices, identities, new Set(opts.quarantined ?? []), warnings);
  const { rules, policy } = compilePolicies(policies, identities, warnings);
  const bundle: Bundle = { generation: opts.generation, hash: '', identities, ipcache, policy, rules, warnings };
  bundle.hash = bundleHash(bundle);
  return bundle;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface IpcRow {
  prefix: Prefix;
  entry: IpcacheEntry;
  owner: string;
}

function compileIpcache(
  segments: readonly Segment[],
  devices: readonly Device[],
  identities: Record<string, number>,
  quarantined: ReadonlySet<string>,
  warnings: string[],
): IpcacheEntry[] {
  const rows = new Map<string, IpcRow>();
  const segIndex = new PrefixIndex<{ seg: Segment; len: number }>();
  const segCidrs = new Map<Segment, Prefix[]>();

  for (const s of segments) {
    const name = s.metadata.name;
    const prefixes: Prefix[] = [];
    for (const c of s.spec.cidrs) {
      const p = parseCidr(c);
      const clash = rows.get(p.text);
      if (clash) {
        warnings.push(`segments ${clash.owner} and ${name} both claim ${p.text}; ${clash.owner} keeps it`);
        continue;
      }
      prefixes.push(p);
      segIndex.add(p, { seg: s, len: p.len });
      const entry: IpcacheEntry = { cidr: p.text, identity: identities[name] };
      if (s.spec.mode === 'audit') entry.audit = true;
      rows.set(p.text, { prefix: p, entry, owner: `segment ${name}` });
    }
    segCidrs.set(s, prefixes);
  }

  const selecting = selectingSegments(segments);
  for (const d of devices) {
    const name = d.metadata.name;
    const sel = selecting(d.metadata.labels);
    if (sel.length > 1) {
      warnings.push(`device ${name} is selected by segments ${sel.map((s) => s.metadata.name).join(', ')}; each address joins the one with the most specific CIDR holding it, else ${sel[0].metadata.name}`);
    }
    for (const a of d.spec.addresses) {
      const addr = parseAddress(a);
      if (!addr) continue; // validation rejects these
      let seg: Segment | undefined;
      if (sel.length > 0) {
        let best = -1;
        for (const s of sel) {
          for (const p of segCidrs.get(s) ?? []) {
            if (p.family === addr.family && (addr.value & MASKS[p.len]) === p.value && p.len > best) {
              best = p.len;
              seg = s;
            }
          }
        }
        seg ??= sel[0];
      } else {
        seg = segIndex.lookup(addr.value)?.seg;
      }
      const hp = hostPrefix(addr);
      let identity: number;
      let audit = false;
      if (quarantined.has(name)) {
        identity = IDENTITY.QUARANTINE;
      } else if (seg) {
        identity = identities[seg.metadata.name];
        audit = seg.spec.mode === 'audit';
      } else {
        identity = IDENTITY.WORLD;
        warnings.push(`device ${name} (${a}) is in no segment; it counts as world`);
      }
      const entry: IpcacheEntry = { cidr: hp.text, identity };
      if (audit) entry.audit = true;
      if (d.spec.mac) entry.mac = d.spec.mac;
      const clash = rows.get(hp.text);
      if (clash && clash.owner.startsWith('device ')) {
        warnings.push(`devices ${clash.owner.slice(7)} and ${name} both claim ${hp.text}; ${clash.owner.slice(7)} keeps it`);
        continue;
      }
      if (clash) warnings.push(`device ${name} address ${hp.text} is also a CIDR of ${clash.owner}; the device entry wins`);
      rows.set(hp.text, { prefix: hp, entry, owner: `device ${name}` });
    }
  }

  return [...rows.values()]
    .sort((x, y) => (x.prefix.value < y.prefix.value ? -1 : x.prefix.value > y.prefix.value ? 1 : x.prefix.len - y.prefix.len))
    .map((r) => r.entry);
}

function compilePolicies(
  policies: readonly Policy[],
  identities: Record<string, number>,
  warnings: string[],
): { rules: RuleInfo[]; policy: PolicyEntry[] } {
  const rules: RuleInfo[] = [];
  const pairs = new Map<string, Pair>();
  let nextRule = 1;

  const idsOf = (p: Policy, names: readonly string[], field: string): number[] => {
    const ids = new Set<number>();
    for (const n of names) {
      const id = identities[n];
      if (id === undefined) warnings.push(`policy ${p.metadata.name}: ${field} names unknown segment ${n}; ignored`);
      else ids.add(id);
    }
    return [...ids];
  };

  for (const p of policies) {
    const mode = p.spec.mode;
    const froms = idsOf(p, p.spec.from, 'from');
    const tos = idsOf(p, p.spec.to, 'to');
    for (const action of ['allow', 'deny'] as const) {
      (p.spec[action] ?? []).forEach((rule, index) => {
        const ruleId = nextRule++;
        rules.push({ ruleId, policy: p.metadata.name, action, index, mode });
        const rank = action === 'allow' ? RANK_ALLOW : mode === 'audit' ? RANK_AUDIT_DENY : RANK_DENY;
        const rec: Rec = { rank, ruleId, encrypt: action === 'allow' && rule.encryption === 'required' };
        const keys = ruleKeys(rule);
        for (const src of froms) {
          for (const dst of tos) {
            const pk = `${src}/${dst}`;
            let pair = pairs.get(pk);
            if (!pair) {
              pair = { src, dst, entries: new Map(), hasDeny: false };
              pairs.set(pk, pair);
            }
            if (rank > RANK_ALLOW) pair.hasDeny = true;
            for (const k of keys) {
              const old = pair.entries.get(k);
              if (!old || rec.rank > old.rank || (rec.rank === old.rank && rec.ruleId < old.ruleId)) pair.entries.set(k, rec);
            }
          }
        }
      });
    }
  }

  const policy: PolicyEntry[] = [];
  const sortedPairs = [...pairs.values()].sort((a, b) => a.src - b.src || a.dst - b.dst);
  for (const pair of sortedPairs) {
    // Within a pair: any-protocol first, then by protocol, prefix length and port.
    const protoOf = (k: number) => (k === 0 ? -1 : Math.floor(k / 65536) % 256);
    const keys = [...pair.entries.keys()].sort((a, b) => protoOf(a) - protoOf(b) || a - b);
    for (const k of keys) {
      let rec = pair.entries.get(k)!;
      if (pair.hasDeny && rec.rank < RANK_DENY) rec = strongestCover(pair.entries, k, rec);
      const { plen, proto, port } = decodeInnerKey(k);
      const e: PolicyEntry = {
        srcIdentity: pair.src,
        dstIdentity: pair.dst,
        protocol: plen === 64 ? null : proto,
        verdict: rec.rank === RANK_DENY ? VERDICT.DENY : rec.rank === RANK_AUDIT_DENY ? VERDICT.AUDIT : VERDICT.ALLOW,
        ruleId: rec.ruleId,
      };
      if (plen > 72) {
        e.port = port;
        e.portPrefixLen = plen - 80;
      }
      if (rec.rank === RANK_ALLOW && rec.encrypt) e.encryptionRequired = true;
      policy.push(e);
    }
  }
  return { rules, policy };
}

/**
 * The record that decides packets matching key k: the strongest deny among k's
 * ancestors (the most specific one among equals), or k's own record.
 */
function strongestCover(entries: Map<number, Rec>, k: number, own: Rec): Rec {
  const { plen, proto, port } = decodeInnerKey(k);
  let best = own;
  const consider = (key: number) => {
    const r = entries.get(key);
    if (r && r.rank > best.rank) best = r;
  };
  // From the most specific ancestor up, so that among equal ranks the nearest wins.
  if (plen > 80) for (let n = plen - 81; n >= 1; n--) consider(innerKey(80 + n, proto, port & portMask(n)));
  if (plen > 72) consider(innerKey(72, proto, 0));
  if (plen > 64) consider(innerKey(64, 0, 0));
  return best;
}

// ---- canonical encoding and hash -------------------------------------------

export function canonicalPolicyEntry(e: PolicyEntry): string {
  return [
    e.srcIdentity,
    e.dstIdentity,
    e.protocol ?? '*',
    e.portPrefixLen ? `${(e.port ?? 0) & portMask(e.portPrefixLen)}/${e.portPrefixLen}` : '*',
    e.verdict,
    e.ruleId,
    e.encryptionRequired ? 'E' : '',
  ].join(' ');
}

export function canonicalIpcacheEntry(e: IpcacheEntry): string {
  return [e.cidr, e.identity, e.audit ? 'A' : '', e.mac ?? ''].join(' ');
}

export function canonicalRule(r: RuleInfo): string {
  return [r.ruleId, r.policy, r.action, r.index, r.mode].join(' ');
}

/** sha256 of identities, ipcache, policy and rules; generation and warnings are not part of it. */
export function bundleHash(b: Pick<Bundle, 'identities' | 'ipcache' | 'policy' | 'rules'>): string {
  const h = createHash('sha256');
  h.update('cordon-bundle-v1\nidentities\n');
  for (const name of Object.keys(b.identities).sort(cmp)) h.update(`${name} ${b.identities[name]}\n`);
  h.update('ipcache\n');
  for (const e of b.ipcache) h.update(canonicalIpcacheEntry(e) + '\n');
  h.update('policy\n');
  // Chunked: one update per entry is slow at 100,000+ entries.
  let chunk = '';
  for (const e of b.policy) {
    chunk += canonicalPolicyEntry(e) + '\n';
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  h.update(chunk);
  h.update('rules\n');
  for (const r of b.rules) h.update(canonicalRule(r) + '\n');
  return h.digest('hex');
}
