// SPDX-License-Identifier: Apache-2.0
/**
 * How much of a site's traffic is sent in clear: flow records (FlowRecord of
 * control.proto, with the datapath's class of each flow's first payload)
 * counted by class per source device and per source segment.
 *
 * Attribution: a flow belongs to the device (else the address) and segment
 * that opened it — its src. Its bytes are both directions (a conversation in
 * clear is in clear both ways). A flow is counted once, under the class its
 * first payload had; while it is still `pending` (handshake, no payload yet)
 * its bytes are held on the flow and added when it is classified, so the
 * report and the Prometheus counters agree and never go backwards. Flows that
 * never carry a payload (a refused SYN, ICMP) are not part of the share.
 *
 * Everything is bounded: the flows being tracked (oldest forgotten first), the
 * sources (beyond MAX_SOURCES new ones are counted only in their segment and
 * in `sourcesOverflow`), the destinations remembered per source.
 *
 * The tallies are the site's (issue 14): each change is also kept as a delta
 * since the last flush (takeChanges()), which the store adds up with the
 * other controllers'; merge() takes the store's rows back with the deltas
 * that arrived meanwhile on top (plaintext.service.ts). The flows being
 * tracked stay this controller's own.
 */
import { ENCRYPTED_CLASSES, PLAINTEXT_CLASSES } from '../../../../native/lib/abi';
import { trimOldest } from '../../../common/src/lru';
import type { TallyRow, TallyScope } from '../store/plaintext-tallies.repository';

export { ENCRYPTED_CLASSES };
/** In-clear classes (PLAINTEXT_CLASSES of native/lib/abi.ts). */
export const CLEAR_CLASSES = PLAINTEXT_CLASSES as readonly string[];
/** `unknown`: an enforcer that does not send the class, or a name this controller does not know. */
export const CLASSES = [...ENCRYPTED_CLASSES, ...CLEAR_CLASSES, 'unknown'] as const;
export type CountedClass = (typeof CLASSES)[number];

const CLASS_SET = new Set<string>(CLASSES);
const CLEAR_SET = new Set<string>(CLEAR_CLASSES);
const ENCRYPTED_SET = new Set<string>(ENCRYPTED_CLASSES);

export function isInClear(cls: string): boolean {
  return CLEAR_SET.has(cls);
}

/** The class a record's `encryption` field names, 'pending' for no payload yet. */
export function classOf(encryption: string | undefined): CountedClass | 'pending' {
  if (encryption === 'pending') return 'pending';
  return encryption && CLASS_SET.has(encryption) ? (encryption as CountedClass) : 'unknown';
}

/** What the aggregator reads of a flow record (the wire's FlowRecord, decoded). */
export interface EncryptionFlowRecord {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  family?: number;
  srcIdentity: number;
  verdict: string;
  reason?: string;
  bytesFwd: number;
  bytesRev?: number;
  firstSeen?: number;
  lastSeen?: number;
  encryption?: string;
}

/** Who a source is, resolved by the caller from the current policy. */
export interface SourceOf {
  /** The Device owning the address, or null. */
  device: string | null;
  /** The source's segment (identity name). */
  segment: string;
}

export interface ClassCount {
  flows: number;
  bytes: number;
}

export interface ShareSummary {
  /** Classified flows (encrypted + in clear + unknown). */
  flows: number;
  flowsInClear: number;
  flowsEncrypted: number;
  /** flowsInClear / flows; null without flows. */
  flowShareInClear: number | null;
  bytes: number;
  bytesInClear: number;
  bytesEncrypted: number;
  /** bytesInClear / bytes; null without bytes. */
  bytesShareInClear: number | null;
  /** Flows in clear that a rule with `encryption: required` dropped (reason plaintext). */
  refusedInClear: number;
  /** Per class, only the classes seen. */
  byClass: Partial<Record<CountedClass, ClassCount>>;
  /** Where flows in clear went (`10.0.2.2:1883/tcp`), most recent first, at most MAX_CLEAR_TO. */
  clearTo: string[];
  /** Last flow counted (ISO time). */
  lastSeen: string | null;
}

export interface DeviceShare extends ShareSummary {
  /** The Device, or null for a source no Device claims. */
  device: string | null;
  /** The source addresses seen (at most MAX_ADDRESSES). */
  addresses: string[];
  segment: string;
}

export interface SegmentShare extends ShareSummary {
  segment: string;
}

export interface PlaintextReport {
  /** Counting since (the site's first count in the store, else this controller's start). */
  since: string;
  total: ShareSummary;
  segments: SegmentShare[];
  devices: DeviceShare[];
  /** Flow records whose source was not listed one by one because MAX_SOURCES were already tracked (still in their segment and the total). */
  sourcesOverflow: number;
  classes: { encrypted: readonly string[]; inClear: readonly string[] };
}

export const MAX_TRACKED_FLOWS = 200_000;
export const MAX_SOURCES = 10_000;
export const MAX_CLEAR_TO = 8;
export const MAX_ADDRESSES = 4;

class Tally {
  readonly byClass = new Map<CountedClass, ClassCount>();
  refusedInClear = 0;
  lastSeen = 0;
  readonly clearTo: string[] = [];

  add(cls: CountedClass, flows: number, bytes: number, at: number): void {
    let c = this.byClass.get(cls);
    if (!c) this.byClass.set(cls, (c = { flows: 0, bytes: 0 }));
    c.flows += flows;
    c.bytes += bytes;
    if (at > this.lastSeen) this.lastSeen = at;
  }

  noteClearTo(dest: string): void {
    const i = this.clearTo.indexOf(dest);
    if (i === 0) return;
    if (i > 0) this.clearTo.splice(i, 1);
    this.clearTo.unshift(dest);
    if (this.clearTo.length > MAX_CLEAR_TO) this.clearTo.length = MAX_CLEAR_TO;
  }

  /** A stored row or a delta on top of this tally. */
  addRow(r: TallyRow): void {
    for (const [cls, c] of Object.entries(r.byClass)) this.add(CLASS_SET.has(cls) ? (cls as CountedClass) : 'unknown', c.flows, c.bytes, 0);
    this.refusedInClear += r.refused;
    if (r.lastSeen > this.lastSeen) this.lastSeen = r.lastSeen;
    for (const dest of [...r.clearTo].reverse()) this.noteClearTo(dest);
  }
  toRow(scope: TallyScope, key: string): TallyRow {
    const byClass: TallyRow['byClass'] = {};
    for (const [cls, c] of this.byClass) byClass[cls] = { ...c };
    return { scope, key, device: null, segment: null, addresses: [], byClass, refused: this.refusedInClear, lastSeen: this.lastSeen, clearTo: [...this.clearTo], overflow: 0 };
  }
  summary(): ShareSummary {
    let flows = 0, flowsInClear = 0, flowsEncrypted = 0, bytes = 0, bytesInClear = 0, bytesEncrypted = 0;
    const byClass: Partial<Record<CountedClass, ClassCount>> = {};
    for (const cls of CLASSES) {
      const c = this.byClass.get(cls);
      if (!c) continue;
      byClass[cls] = { ...c };
      flows += c.flows;
      bytes += c.bytes;
      if (CLEAR_SET.has(cls)) {
        flowsInClear += c.flows;
        bytesInClear += c.bytes;
      } else if (ENCRYPTED_SET.has(cls)) {
        flowsEncrypted += c.flows;
        bytesEncrypted += c.bytes;
      }
    }
    const share = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : null);
    return {
      flows,
      flowsInClear,
      flowsEncrypted,
      flowShareInClear: share(flowsInClear, flows),
      bytes,
      bytesInClear,
      bytesEncrypted,
      bytesShareInClear: share(bytesInClear, bytes),
      refusedInClear: this.refusedInClear,
      byClass,
      clearTo: [...this.clearTo],
      lastSeen: this.lastSeen ? new Date(this.lastSeen).toISOString() : null,
    };
  }
}

class SourceTally extends Tally {
  readonly addresses: string[] = [];
  constructor(
    readonly key: string,
    readonly device: string | null,
    public segment: string,
  ) {
    super();
  }
  noteAddress(address: string): void {
    if (!this.addresses.includes(address) && this.addresses.length < MAX_ADDRESSES) this.addresses.push(address);
  }
  override addRow(r: TallyRow): void {
    super.addRow(r);
    if (r.segment) this.segment = r.segment;
    for (const a of r.addresses) this.noteAddress(a);
  }
  override toRow(scope: TallyScope, key: string): TallyRow {
    return { ...super.toRow(scope, key), device: this.device, segment: this.segment, addresses: [...this.addresses] };
  }
}
const sourceKey = (device: string | null, address: string) => (device !== null ? `device:${device}` : `address:${address}`);
/** A row's tally, as new. */
function tallyOf(r: TallyRow): Tally {
  const t = r.scope === 'source' ? new SourceTally(r.key, r.device, r.segment ?? 'world') : new Tally();
  t.addRow(r);
  return t;
}

interface TrackedFlow {
  firstSeen: number;
  /** The class counted, or null while pending. */
  cls: CountedClass | null;
  /** Bytes seen while pending, added when the flow is classified. */
  heldBytes: number;
}

/** What the caller does with each increment (the Prometheus counters). */
export type OnCount = (segment: string, cls: CountedClass, flows: number, bytes: number) => void;

const TRANSPORT: Record<number, string> = { 6: 'tcp', 17: 'udp' };

export class EncryptionStats {
  /** This controller's start, until merge() gives the site's first count. */
  startedAt = Date.now();
  private readonly flows = new Map<string, TrackedFlow>();
  private readonly sources = new Map<string, SourceTally>();
  private readonly segments = new Map<string, Tally>();
  private total = new Tally();
  sourcesOverflow = 0;
  /** What changed since the last flush, by `scope|key`: tallies of increments. */
  private pending = new Map<string, Tally>();
  private pendingOverflow = 0;

  constructor(
    private readonly onCount: OnCount = () => undefined,
    private readonly limits = { flows: MAX_TRACKED_FLOWS, sources: MAX_SOURCES },
  ) {}

  /** One batch of an enforcer; synchronous and linear in the batch. */
  ingest(enforcer: string, records: readonly EncryptionFlowRecord[], sourceOf: (r: EncryptionFlowRecord) => SourceOf, at = Date.now()): void {
    for (const r of records) {
      if (!TRANSPORT[r.protocol]) continue; // only TCP and UDP carry a classified payload
      const seen = classOf(r.encryption);
      const bytes = (r.bytesFwd || 0) + (r.bytesRev || 0);
      const key = `${enforcer}|${r.family ?? 0}|${r.protocol}|${r.src}|${r.sport}|${r.dst}|${r.dport}`;
      const firstSeen = r.firstSeen ?? 0;
      let f = this.flows.get(key);
      // The same 5-tuple reused later is a new flow (first seen moves on; a
      // millisecond of jitter from the enforcer's clock conversion is not).
      if (f && Math.abs(f.firstSeen - firstSeen) > 1000) f = undefined;
      let newFlow = false;
      let addBytes = bytes;
      if (!f) {
        f = { firstSeen, cls: null, heldBytes: 0 };
        this.track(key, f);
      }
      if (f.cls === null) {
        if (seen === 'pending') {
          f.heldBytes += bytes;
          continue;
        }
        f.cls = seen;
        newFlow = true;
        addBytes += f.heldBytes;
        f.heldBytes = 0;
      }
      const cls = f.cls;
      const who = sourceOf(r);
      const t = r.lastSeen || at;
      const dest = `${r.dst}:${r.dport}/${TRANSPORT[r.protocol]}`;
      const refused = newFlow && CLEAR_SET.has(cls) && shortReason(r.reason) === 'plaintext';
      const tallies: Tally[] = [this.total, this.segment(who.segment), this.delta('total', ''), this.delta('segment', who.segment)];
      const src = this.source(who, r.src);
      if (src) {
        const d = this.delta('source', src.key, src) as SourceTally;
        d.segment = src.segment;
        d.noteAddress(r.src);
        tallies.push(src, d);
      }
      for (const x of tallies) {
        x.add(cls, newFlow ? 1 : 0, addBytes, t);
        if (newFlow && CLEAR_SET.has(cls)) x.noteClearTo(dest);
        if (refused) x.refusedInClear++;
      }
      this.onCount(who.segment, cls, newFlow ? 1 : 0, addBytes);
    }
  }

  report(q: { segment?: string; device?: string; limit?: number } = {}): PlaintextReport {
    const bySegment = (s: { segment: string }) => !q.segment || s.segment === q.segment;
    const devices: DeviceShare[] = [];
    for (const s of this.sources.values()) {
      if (!bySegment(s)) continue;
      if (q.device && s.device !== q.device && !s.addresses.includes(q.device)) continue;
      devices.push({ device: s.device, addresses: [...s.addresses], segment: s.segment, ...s.summary() });
    }
    // Most in clear first: flows, then bytes, then the name.
    devices.sort((a, b) => b.flowsInClear - a.flowsInClear || b.bytesInClear - a.bytesInClear || (a.device ?? a.addresses[0] ?? '').localeCompare(b.device ?? b.addresses[0] ?? ''));
    const segments: SegmentShare[] = [...this.segments.entries()].map(([segment, t]) => ({ segment, ...t.summary() })).filter(bySegment);
    segments.sort((a, b) => b.flowsInClear - a.flowsInClear || b.bytesInClear - a.bytesInClear || a.segment.localeCompare(b.segment));
    return {
      since: new Date(this.startedAt).toISOString(),
      total: this.total.summary(),
      segments,
      devices: q.limit !== undefined ? devices.slice(0, q.limit) : devices,
      sourcesOverflow: this.sourcesOverflow,
      classes: { encrypted: ENCRYPTED_CLASSES, inClear: CLEAR_CLASSES },
    };
  }

  /** Per segment, for the share gauge. */
  segmentSummaries(): Map<string, ShareSummary> {
    return new Map([...this.segments.entries()].map(([s, t]) => [s, t.summary()]));
  }

  get trackedFlows(): number {
    return this.flows.size;
  }

  private track(key: string, f: TrackedFlow): void {
    this.flows.delete(key);
    this.flows.set(key, f);
    // Forget the oldest flows first, an eighth at a time (one by one costs ~10 µs a
    // record under churn); a forgotten flow seen again is counted again.
    trimOldest(this.flows, this.limits.flows);
  }

  private segment(name: string): Tally {
    let t = this.segments.get(name);
    if (!t) this.segments.set(name, (t = new Tally()));
    return t;
  }

  private source(who: SourceOf, address: string): SourceTally | null {
    const key = sourceKey(who.device, address);
    let s = this.sources.get(key);
    if (!s) {
      if (this.sources.size >= this.limits.sources) {
        this.sourcesOverflow++;
        this.pendingOverflow++;
        return null;
      }
      this.sources.set(key, (s = new SourceTally(key, who.device, who.segment)));
    }
    s.segment = who.segment;
    s.noteAddress(address);
    return s;
  }
  /** The pending delta of a tally (created empty). */
  private delta(scope: TallyScope, key: string, source?: SourceTally): Tally {
    const k = `${scope}|${key}`;
    let d = this.pending.get(k);
    if (!d) this.pending.set(k, (d = source ? new SourceTally(key, source.device, source.segment) : new Tally()));
    return d;
  }
  /** The deltas since the last flush, as rows; new deltas start from zero. */
  takeChanges(): TallyRow[] {
    const rows = [...this.pending].map(([k, t]) => t.toRow(k.slice(0, k.indexOf('|')) as TallyScope, k.slice(k.indexOf('|') + 1)));
    if (this.pendingOverflow) {
      const total = rows.find((r) => r.scope === 'total') ?? new Tally().toRow('total', '');
      total.overflow = this.pendingOverflow;
      if (!rows.includes(total)) rows.push(total);
    }
    this.pending = new Map();
    this.pendingOverflow = 0;
    return rows;
  }
  /** A flush that failed: its deltas go back with the ones that came since. */
  restoreChanges(rows: readonly TallyRow[]): void {
    for (const r of rows) {
      this.pendingOverflow += r.overflow;
      this.delta(r.scope, r.key, r.scope === 'source' ? new SourceTally(r.key, r.device, r.segment ?? 'world') : undefined).addRow(r);
    }
  }
  /** Rows of the store (the site's sums): each replaces its tally, with this controller's unflushed deltas on top. */
  merge(rows: readonly TallyRow[]): void {
    for (const r of rows) {
      const t = tallyOf(r);
      const d = this.pending.get(`${r.scope}|${r.key}`);
      if (d) t.addRow(d.toRow(r.scope, r.key));
      if (r.scope === 'total') {
        this.total = t;
        this.sourcesOverflow = r.overflow + this.pendingOverflow;
        if (r.createdAt) this.startedAt = Math.min(this.startedAt, Date.parse(r.createdAt));
      } else if (r.scope === 'segment') this.segments.set(r.key, t);
      else if (this.sources.has(r.key) || this.sources.size < this.limits.sources) this.sources.set(r.key, t as SourceTally);
    }
  }
}

function shortReason(r: string | undefined): string {
  if (!r) return 'none';
  return r.startsWith('DROP_REASON_') ? r.slice(12).toLowerCase() : r.toLowerCase();
}
