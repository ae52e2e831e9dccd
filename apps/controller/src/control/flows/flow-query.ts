// SPDX-License-Identifier: Apache-2.0
/**
 * The filters of GET /v1/flows (and `cordon flows`, hubble's): each parsed once
 * from the query string into a predicate on a flow row, so that a bad value is
 * a 400 naming the parameter and the list itself does no parsing.
 */
import { parseAddress, parseCidr, prefixContains, type Prefix } from '../../policy/net';
import { PROTOCOL_NUMBER } from '../../policy/protocols';
import { ENCRYPTION_NAME, REASON_NAME } from '../../../../../native/lib/abi';
import { canonicalFqdn, fqdnMatches, fqdnPatternError } from '../../../../../model/generation/fqdn';

/** What a filter looks at: a flow row (FlowView) before its strings are built. */
export interface FlowFacts {
  enforcer: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  verdict: string;
  reason: string;
  ruleId: number;
  encryption: string;
  lastSeen: number;
  srcSegment: string;
  dstSegment: string;
  /** The DNS name dst was learned from ('' when none). */
  dstName: string;
}

export interface FlowQuery {
  limit?: number;
  /** Only flows whose last packet is after this instant (ms since epoch). */
  since?: number;
  /**
   * Only flows the controller received after this cursor (the `cursor` of a previous answer):
   * what `cordon flows --watch` polls with, so a flow reported late still shows once.
   */
  after?: string;
  verdict?: string;
  /** Source or destination segment. */
  segment?: string;
  enforcer?: string;
  /** Predicates from the other parameters (fromQuery). */
  match?: (f: FlowFacts) => boolean;
}

export class FlowQueryError extends Error {}

const VERDICTS = ['allow', 'deny', 'audit'];
const REASONS = Object.values(REASON_NAME) as string[];
/** `unknown`: from an enforcer that does not send the class. */
const CLASSES: string[] = [...ENCRYPTION_NAME, 'unknown'];

/**
 * `10.0.0.1`, `10.0.0.0/24`, a segment name, or a DNS name or `*.domain` pattern (the name a destination was
 * learned from); comma-separated: any of them.
 */
function endpointMatcher(param: string, text: string): (addr: string, segment: string, name?: string) => boolean {
  const prefixes: Prefix[] = [];
  const names = new Set<string>();
  const patterns: string[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part.includes('/') || parseAddress(part)) {
      try {
        prefixes.push(parseCidr(part));
      } catch (err) {
        throw new FlowQueryError(`${param}: ${(err as Error).message}`);
      }
    } else if (/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(part)) names.add(part);
    else if (part.includes('.') && !fqdnPatternError(part)) patterns.push(canonicalFqdn(part));
    else throw new FlowQueryError(`${param} must be addresses, CIDRs, segment names or DNS names (comma-separated), got "${part}"`);
  }
  return (addr, segment, name) => {
    if (names.has(segment)) return true;
    if (name && patterns.some((p) => fqdnMatches(p, name))) return true;
    if (!prefixes.length) return false;
    const a = parseAddress(addr);
    return !!a && prefixes.some((p) => prefixContains(p, a));
  };
}

function oneOf(param: string, text: string, allowed: string[]): Set<string> {
  const set = new Set(text.split(',').map((s) => s.trim()).filter(Boolean));
  for (const v of set) if (!allowed.includes(v)) throw new FlowQueryError(`${param} must be one of ${allowed.join(', ')}, got "${v}"`);
  return set;
}

/** `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number. */
export function protocolOf(text: string): number {
  const named = (PROTOCOL_NUMBER as Record<string, number>)[text.toLowerCase()];
  if (named !== undefined) return named;
  if (/^\d{1,3}$/.test(text) && Number(text) <= 255) return Number(text);
  throw new FlowQueryError(`protocol must be tcp, udp, icmp, icmpv6 or a number 0-255, got "${text}"`);
}

/** Parses `since` as ms since the epoch or an ISO time. */
export function timeParam(param: string, text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new FlowQueryError(`${param} must be milliseconds since the epoch or an ISO time, got "${text}"`);
  return ms;
}

export type FlowParams = Partial<Record<'limit' | 'since' | 'after' | 'verdict' | 'segment' | 'enforcer' | 'from' | 'to' | 'endpoint' | 'port' | 'protocol' | 'reason' | 'encryption' | 'rule', string>>;

/** The query string of GET /v1/flows as a FlowQuery; throws FlowQueryError naming the bad parameter. */
export function fromQuery(p: FlowParams): FlowQuery {
  const q: FlowQuery = {};
  const preds: Array<(f: FlowFacts) => boolean> = [];
  const given = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (given(p.limit)) {
    const lim = Number(p.limit);
    if (!Number.isInteger(lim) || lim < 1 || lim > 10000) throw new FlowQueryError('limit must be an integer from 1 to 10000');
    q.limit = lim;
  }
  if (given(p.since)) q.since = timeParam('since', p.since);
  if (given(p.after)) q.after = p.after;
  if (given(p.verdict)) {
    const set = oneOf('verdict', p.verdict, VERDICTS);
    preds.push((f) => set.has(f.verdict));
  }
  if (given(p.segment)) q.segment = p.segment;
  if (given(p.enforcer)) {
    const set = new Set(p.enforcer.split(','));
    preds.push((f) => set.has(f.enforcer));
  }
  if (given(p.from)) {
    const m = endpointMatcher('from', p.from);
    preds.push((f) => m(f.src, f.srcSegment));
  }
  if (given(p.to)) {
    const m = endpointMatcher('to', p.to);
    preds.push((f) => m(f.dst, f.dstSegment, f.dstName));
  }
  if (given(p.endpoint)) {
    const m = endpointMatcher('endpoint', p.endpoint);
    preds.push((f) => m(f.src, f.srcSegment) || m(f.dst, f.dstSegment, f.dstName));
  }
  if (given(p.rule)) {
    const ids = new Set(
      p.rule.split(',').map((s) => {
        if (!/^\d+$/.test(s.trim())) throw new FlowQueryError(`rule takes rule ids (GET /v1/bundles/current rules), got "${s}"`);
        return Number(s);
      }),
    );
    preds.push((f) => ids.has(f.ruleId));
  }
  if (given(p.port)) {
    const ports = new Set(
      p.port.split(',').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new FlowQueryError(`port must be 0-65535 (comma-separated), got "${s}"`);
        return n;
      }),
    );
    // The port the flow went to; ICMP has none (its fields carry the echo identifier).
    preds.push((f) => (f.protocol === 6 || f.protocol === 17) && ports.has(f.dport));
  }
  if (given(p.protocol)) {
    const set = new Set(p.protocol.split(',').map(protocolOf));
    preds.push((f) => set.has(f.protocol));
  }
  if (given(p.reason)) {
    const set = oneOf('reason', p.reason, REASONS);
    preds.push((f) => set.has(f.reason));
  }
  if (given(p.encryption)) {
    const set = oneOf('encryption', p.encryption, CLASSES);
    preds.push((f) => set.has(f.encryption || 'unknown'));
  }
  if (preds.length) q.match = (f) => preds.every((pr) => pr(f));
  return q;
}
