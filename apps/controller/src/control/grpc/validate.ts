// SPDX-License-Identifier: Apache-2.0
/**
 * Every request is checked before use: proto decoding guarantees types, not
 * sizes, ranges, names or enum values. Each check returns the first problem
 * (field and reason) or null; handlers answer INVALID_ARGUMENT with it.
 */
import {
  ENFORCER_NAME,
  EnforcerStatus,
  EnrollRequest,
  FqdnReport,
  MudAnnouncement,
  FLOW_BATCH_MAX_EVENTS,
  FLOW_BATCH_MAX_RECORDS,
  FlowBatch,
  RenewRequest,
  WIRE_REASONS,
  WIRE_TO_VERDICT,
  WatchRequest,
  isUndecodable,
} from '../../../../../proto/cordon/v1/control';
import { labelsProblem } from '../../../../../model/placement/labels';
import { parseAddress } from '../../policy/net';

type Problem = string | null;

/** A name as the enforcer's DNS parser gives it: lower case labels of letters, digits, '-' and '_', dot-separated. */
const DNS_NAME = /^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/;
/** What one ReportFqdn may list (the enforcer's fqdn-report.ts sends at most that). */
export const FQDN_REPORT_MAX_NAMES = 20_000;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const uint = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const str = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;

function decodable(r: unknown): Problem {
  if (isUndecodable(r)) return `the request is not a valid protobuf message (${r.__undecodable})`;
  if (!isObj(r)) return 'the request is empty';
  return null;
}
function name(field: string, v: unknown): Problem {
  return typeof v === 'string' && ENFORCER_NAME.test(v) ? null : `${field}: must be 1-63 of [a-z0-9-] starting with a letter or digit`;
}
function csr(field: string, v: unknown): Problem {
  if (!str(v, 16384) || !(v as string).includes('-----BEGIN CERTIFICATE REQUEST-----')) return `${field}: must be a PEM certificate request of at most 16 KiB`;
  return null;
}

export function checkEnroll(r: unknown): Problem {
  const p = decodable(r);
  if (p) return p;
  const q = r as EnrollRequest;
  if (!str(q.token, 512) || q.token.length === 0) return 'token: required, at most 512 characters';
  return name('name', q.name) ?? csr('csr_pem', q.csrPem);
}

export function checkRenew(r: unknown): Problem {
  return decodable(r) ?? csr('csr_pem', (r as RenewRequest).csrPem);
}

export function checkWatch(r: unknown): Problem {
  const p = decodable(r);
  if (p) return p;
  const q = r as WatchRequest;
  if (!uint(q.lastGeneration)) return 'last_generation: must be a non-negative integer';
  if (!str(q.lastHash, 128)) return 'last_hash: at most 128 characters';
  if (q.labels !== undefined && q.labels !== null) {
    if (typeof q.labels !== 'object' || Array.isArray(q.labels)) return 'labels: must be a map of strings';
    const l = labelsProblem(q.labels);
    if (l) return `labels: ${l}`;
  }
  return name('enforcer', q.enforcer);
}

const REASONS = new Set<string>(WIRE_REASONS);
const verdictOk = (v: unknown) => typeof v === 'string' && v in WIRE_TO_VERDICT;

const FLOW_UINTS = ['packetsFwd', 'bytesFwd', 'packetsRev', 'bytesRev', 'firstSeen', 'lastSeen', 'srcIdentity', 'dstIdentity', 'ruleId'] as const;

export function checkFlowBatch(r: unknown): Problem {
  const p = decodable(r);
  if (p) return p;
  const b = r as FlowBatch;
  const n = name('enforcer', b.enforcer);
  if (n) return n;
  for (const f of ['seq', 'generation', 'windowStart', 'windowEnd', 'droppedBatches'] as const) if (!uint(b[f])) return `${f}: must be a non-negative integer`;
  if (!Array.isArray(b.flows) || b.flows.length > FLOW_BATCH_MAX_RECORDS) return `flows: at most ${FLOW_BATCH_MAX_RECORDS} records per batch`;
  if (!Array.isArray(b.pairs) || b.pairs.length > FLOW_BATCH_MAX_RECORDS) return `pairs: at most ${FLOW_BATCH_MAX_RECORDS} per batch`;
  // Indexed loops and hoisted field lists: this runs for every record of every batch.
  for (let i = 0; i < b.flows.length; i++) {
    const f = b.flows[i];
    if (!str(f.src, 64) || !str(f.dst, 64)) return `flows[${i}]: src/dst at most 64 characters`;
    if (!verdictOk(f.verdict) || !REASONS.has(f.reason)) return `flows[${i}]: unknown verdict or reason`;
    if (f.family !== 4 && f.family !== 6) return `flows[${i}].family: must be 4 or 6`;
    if (f.sport > 65535 || f.dport > 65535 || f.protocol > 255) return `flows[${i}]: port or protocol out of range`;
    if ((f.srcMac !== undefined && !str(f.srcMac, 17)) || (f.interface !== undefined && !str(f.interface, 64))) return `flows[${i}]: src_mac at most 17 characters, interface at most 64`;
    if (f.dstName !== undefined && (!str(f.dstName, 253) || (f.dstName !== '' && !DNS_NAME.test(f.dstName)))) return `flows[${i}].dst_name: a DNS name (lower case, at most 253 characters) or empty`;
    for (const k of FLOW_UINTS) {
      if (!uint(f[k])) return `flows[${i}].${k}: must be a non-negative integer`;
    }
  }
  const events = b.events ?? [];
  if (!Array.isArray(events) || events.length > FLOW_BATCH_MAX_EVENTS) return `events: at most ${FLOW_BATCH_MAX_EVENTS} per batch`;
  if (b.eventsLost !== undefined && !uint(b.eventsLost)) return 'events_lost: must be a non-negative integer';
  if (b.run !== undefined && !(typeof b.run === 'string' && /^[A-Za-z0-9-]{0,64}$/.test(b.run))) return 'run: at most 64 of [A-Za-z0-9-]';
  for (const [i, e] of events.entries()) {
    if (!str(e.src, 64) || !str(e.dst, 64) || !str(e.srcMac, 17)) return `events[${i}]: src/dst at most 64 characters, src_mac at most 17`;
    if (e.interface !== undefined && !str(e.interface, 64)) return `events[${i}].interface: at most 64 characters`;
    if (e.verdict !== 'VERDICT_DENY' && e.verdict !== 'VERDICT_AUDIT') return `events[${i}].verdict: must be DENY or AUDIT`;
    if (!REASONS.has(e.reason)) return `events[${i}].reason: unknown`;
    if (e.family !== 4 && e.family !== 6) return `events[${i}].family: must be 4 or 6`;
    if (e.sport > 65535 || e.dport > 65535 || e.protocol > 255) return `events[${i}]: port or protocol out of range`;
    for (const k of ['at', 'srcIdentity', 'dstIdentity', 'ruleId', 'ifindex'] as const) if (!uint(e[k])) return `events[${i}].${k}: must be a non-negative integer`;
  }
  for (const [i, c] of b.pairs.entries()) {
    if (!verdictOk(c.verdict) || !REASONS.has(c.reason)) return `pairs[${i}]: unknown verdict or reason`;
    if (!str(c.srcSegment, 253) || !str(c.dstSegment, 253)) return `pairs[${i}]: segment names at most 253 characters`;
    if (!uint(c.packets) || !uint(c.bytes) || !uint(c.srcIdentity) || !uint(c.dstIdentity)) return `pairs[${i}]: counters must be non-negative integers`;
  }
  return null;
}

export function checkStatus(r: unknown): Problem {
  const p = decodable(r);
  if (p) return p;
  const s = r as EnforcerStatus;
  const n = name('enforcer', s.enforcer);
  if (n) return n;
  if (!uint(s.generation)) return 'generation: must be a non-negative integer';
  if (Object.keys(s.mapFill ?? {}).length > 64) return 'map_fill: at most 64 maps';
  for (const [k, v] of Object.entries(s.mapFill ?? {})) if (!str(k, 64) || !uint(v.entries) || !uint(v.max)) return `map_fill.${k}: bad entry`;
  if ((s.drops ?? []).length > 32) return 'drops: at most 32 reasons';
  for (const d of s.drops ?? []) if (!REASONS.has(d.reason) || !uint(d.packets) || !uint(d.bytes)) return 'drops: unknown reason or bad counter';
  if (!str(s.version, 64)) return 'version: at most 64 characters';
  if (s.health && (!str(s.health.detail, 1024) || (s.health.interfaces ?? []).length > 256)) return 'health: detail at most 1 KiB, at most 256 interfaces';
  return null;
}

export function checkMud(r: unknown): Problem {
  const d = decodable(r);
  if (d) return d;
  const m = r as MudAnnouncement;
  const n = name('enforcer', m.enforcer);
  if (n) return n;
  if (!str(m.url, 255) || !/^https:\/\/[\x21-\x7e]+$/.test(m.url)) return 'url: must be an https URL of at most 255 characters';
  if (m.mac && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m.mac)) return 'mac: must be aa:bb:cc:dd:ee:ff (lower case) or empty';
  if (!str(m.address, 45)) return 'address: at most 45 characters';
  if (m.source !== 'dhcpv4' && m.source !== 'dhcpv6') return 'source: must be dhcpv4 or dhcpv6';
  if (!str(m.interface, 15)) return 'interface: at most 15 characters';
  return null;
}

export function checkFqdnReport(r: unknown): Problem {
  const d = decodable(r);
  if (d) return d;
  const q = r as FqdnReport;
  const n = name('enforcer', q.enforcer);
  if (n) return n;
  if (!Array.isArray(q.names) || q.names.length > FQDN_REPORT_MAX_NAMES) return `names: at most ${FQDN_REPORT_MAX_NAMES}`;
  if (!uint(q.total) || q.total < q.names.length) return 'total: must be an integer, at least the number of names';
  for (let i = 0; i < q.names.length; i++) {
    const e = q.names[i];
    if (!str(e.name, 253) || (e.name !== '' && !DNS_NAME.test(e.name))) return `names[${i}].name: a DNS name (lower case, at most 253 characters) or empty`;
    if (!str(e.address, 45) || !parseAddress(e.address)) return `names[${i}].address: not an IP address`;
    if (!uint(e.expiresAt)) return `names[${i}].expires_at: must be a non-negative integer (Unix ms)`;
    if (!Array.isArray(e.selectors) || e.selectors.length > 64 || e.selectors.some((s) => !str(s, 255))) return `names[${i}].selectors: at most 64 patterns of at most 255 characters`;
  }
  return null;
}
