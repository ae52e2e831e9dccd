// SPDX-License-Identifier: Apache-2.0
/**
 * The flows the page holds: rows from GET /v1/flows merged by their 5-tuple,
 * at most `maxRows` of them (the least recently seen go first), and the
 * filters of the flow table. Pure: no DOM, tested in apps/console/src/flows.spec.ts.
 */
import { PROTOCOL_NUMBER, protocolName } from '../../controller/src/policy/protocols';

export interface Flow {
  enforcer: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family: number;
  srcSegment: string;
  dstSegment: string;
  verdict: string;
  reason: string;
  ruleId: number;
  packets: number;
  bytes: number;
  firstSeen: string;
  lastSeen: string;
  /** The datapath's class of the first payload (unknown from an enforcer that does not send it). */
  encryption?: string;
  /** ICMP: the message's type and code, when the enforcer sends them. */
  icmpType?: number | null;
  icmpCode?: number | null;
  /** The DNS name the source resolved dst from (fqdn policies), when the enforcer learned one. */
  dstName?: string | null;
}

export interface FlowFilter {
  segment?: string;
  device?: string;
  address?: string;
  port?: string;
  protocol?: string;
  verdict?: string;
  reason?: string;
  encryption?: string;
  enforcer?: string;
  /** Only flows seen in the last this many ms. */
  windowMs?: number;
}

const PROTOCOLS: Readonly<Record<string, number>> = PROTOCOL_NUMBER;
export { protocolName };

/** `tcp/443`, `icmp 8/0`: protocol by name, with the port or ICMP's type/code (never its echo identifier). */
export function protocolText(f: Pick<Flow, 'protocol' | 'dport' | 'icmpType' | 'icmpCode'>): string {
  if (f.protocol === 6 || f.protocol === 17) return `${protocolName(f.protocol)}/${f.dport}`;
  if ((f.protocol === 1 || f.protocol === 58) && f.icmpType !== null && f.icmpType !== undefined) return `${protocolName(f.protocol)} ${f.icmpType}/${f.icmpCode ?? 0}`;
  return protocolName(f.protocol);
}

export const flowKey = (f: Flow) => `${f.enforcer}|${f.protocol}|${f.src}|${f.sport}|${f.dst}|${f.dport}`;

/** `tcp`, `6`, ` TCP ` all name protocol 6; null when the text names none. */
export function parseProtocol(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t in PROTOCOLS) return PROTOCOLS[t];
  return /^\d{1,3}$/.test(t) && Number(t) <= 255 ? Number(t) : null;
}

export function matches(f: Flow, q: FlowFilter, deviceOf: (address: string) => string | undefined, now = Date.now()): boolean {
  if (q.segment && f.srcSegment !== q.segment && f.dstSegment !== q.segment) return false;
  if (q.device) {
    const d = q.device.toLowerCase();
    if (deviceOf(f.src)?.toLowerCase() !== d && deviceOf(f.dst)?.toLowerCase() !== d) return false;
  }
  if (q.address && !f.src.startsWith(q.address.trim()) && !f.dst.startsWith(q.address.trim())) return false;
  if (q.port && String(f.dport) !== q.port.trim() && String(f.sport) !== q.port.trim()) return false;
  if (q.protocol && f.protocol !== parseProtocol(q.protocol)) return false;
  if (q.verdict && f.verdict !== q.verdict) return false;
  if (q.reason && f.reason !== q.reason) return false;
  if (q.encryption && (f.encryption ?? 'unknown') !== q.encryption) return false;
  if (q.enforcer && f.enforcer !== q.enforcer) return false;
  if (q.windowMs && now - Date.parse(f.lastSeen) > q.windowMs) return false;
  return true;
}

export class FlowStore {
  private readonly rows = new Map<string, Flow>();
  constructor(readonly maxRows = 5000) {}

  get size(): number {
    return this.rows.size;
  }

  /** Merges rows, oldest first (a newer answer replaces a flow's counters); evicts the least recently seen beyond maxRows. */
  add(batch: readonly Flow[]): void {
    // Inserted in the order given, so the Map's order stays the LRU order.
    for (const f of batch) {
      const k = flowKey(f);
      this.rows.delete(k);
      this.rows.set(k, f);
    }
    if (this.rows.size > this.maxRows) {
      let n = this.rows.size - this.maxRows;
      for (const k of this.rows.keys()) {
        if (n-- <= 0) break;
        this.rows.delete(k);
      }
    }
  }

  /** Matching rows, most recently seen first, at most `limit`; `matched` counts all. */
  list(q: FlowFilter, deviceOf: (a: string) => string | undefined, limit = 200, now = Date.now()): { rows: Flow[]; matched: number } {
    const rows: Flow[] = [];
    let matched = 0;
    const all = [...this.rows.values()];
    for (let i = all.length - 1; i >= 0; i--) {
      if (!matches(all[i], q, deviceOf, now)) continue;
      matched++;
      if (rows.length < limit) rows.push(all[i]);
    }
    return { rows, matched };
  }

  /** Rows between two segments (either direction when `both`). */
  between(src: string, dst: string, verdict?: string): Flow[] {
    return [...this.rows.values()].reverse().filter((f) => f.srcSegment === src && f.dstSegment === dst && (!verdict || f.verdict === verdict));
  }

  values(): Flow[] {
    return [...this.rows.values()];
  }
}
