// SPDX-License-Identifier: Apache-2.0
/**
 * What the views share: the flows (from the controller's event stream, capped
 * and aggregated beyond its rate; polled only while the stream is down: live.ts),
 * the segment-pair counters, the current bundle and the devices (polled every
 * 2 s), while signed in. Views redraw at most every REDRAW_MS however fast
 * events come.
 */
import { get, metricsText } from './api';
import { FlowStore, type Flow } from './flows';
import { FlowFeed, ROWS_PER_POLL, type Aggregate } from './live';
import type { BundleLike } from './matrix';
import { parsePairs, type PairTraffic } from './pairs';

export { ROWS_PER_POLL };
export const REDRAW_MS = 300;
/** What withRows reads of a row: an aggregate's pair counts are one too. */
type PairRow = Pick<Flow, 'srcSegment' | 'dstSegment' | 'verdict' | 'packets' | 'bytes'>;

export interface DeviceDoc {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { addresses: string[]; mac?: string; firmware?: string };
}

/**
 * The counters' pairs, plus the pairs of rows the counters do not name yet (a
 * flow reported before its pair counter, or a verdict the enforcer counts per
 * flow only): an edge for every flow the page holds.
 */
export function withRows(pairs: PairTraffic[], rows: readonly PairRow[]): PairTraffic[] {
  const out = new Map(pairs.map((p) => [`${p.src}|${p.dst}|${p.verdict}`, p]));
  const extra = new Map<string, PairTraffic>();
  for (const f of rows) {
    const k = `${f.srcSegment}|${f.dstSegment}|${f.verdict}`;
    if (out.has(k)) continue;
    let p = extra.get(k);
    if (!p) extra.set(k, (p = { src: f.srcSegment, dst: f.dstSegment, verdict: f.verdict, packets: 0, bytes: 0 }));
    p.packets += f.packets;
    p.bytes += f.bytes;
  }
  return [...out.values(), ...extra.values()];
}

export class ConsoleState {
  readonly flows = new FlowStore(5000);
  pairs: PairTraffic[] = [];
  /** The pairs of /metrics, before the rows and aggregates the page holds are added. */
  private counted: PairTraffic[] = [];
  /** Aggregate events summed by pair (bounded by the segment pairs), so the map has an edge for them too. */
  private aggregated = new Map<string, PairRow>();
  bundle: BundleLike | null = null;
  devices: DeviceDoc[] = [];
  private deviceByAddress = new Map<string, string>();
  /** Polls cut at ROWS_PER_POLL (while the stream was down). */
  saturatedPolls = 0;
  /** Flows the stream only counted (beyond its rate): the map's counters still count them. */
  aggregatedFlows = 0;
  readonly feed = new FlowFeed({
    rows: (items) => this.flows.add(items),
    aggregate: (a) => this.addAggregate(a),
    saturated: () => this.saturatedPolls++,
    changed: (error) => {
      if (error !== undefined) this.flowError = error;
      this.schedule();
    },
  });
  private flowError: string | null = null;
  private siteError: string | null = null;
  private timers: number[] = [];
  private redraw: number | null = null;
  private listeners = new Set<() => void>();

  get error(): string | null {
    return this.flowError ?? this.siteError;
  }

  deviceOf = (address: string) => this.deviceByAddress.get(address);

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  /** At most one redraw per REDRAW_MS, however many events arrive. */
  private schedule() {
    if (this.redraw !== null) return;
    this.redraw = window.setTimeout(() => {
      this.redraw = null;
      this.pairs = withRows(this.counted, [...this.flows.values(), ...this.aggregated.values()]);
      for (const fn of this.listeners) fn();
    }, REDRAW_MS);
  }

  private addAggregate(a: Aggregate) {
    this.aggregatedFlows += a.flows;
    for (const p of a.pairs ?? []) {
      const k = `${p.srcSegment}|${p.dstSegment}|${p.verdict}`;
      const q = this.aggregated.get(k);
      if (q) {
        q.packets += p.packets;
        q.bytes += p.bytes;
      } else this.aggregated.set(k, { srcSegment: p.srcSegment, dstSegment: p.dstSegment, verdict: p.verdict, packets: p.packets, bytes: p.bytes });
    }
  }

  start(): void {
    this.feed.start();
    let busy = false;
    const tick = async () => {
      if (busy) return; // the previous call has not answered: skip, never pile up
      busy = true;
      try {
        await this.pollSite();
        this.siteError = null;
      } catch (e) {
        this.siteError = (e as Error).message;
      } finally {
        busy = false;
      }
      this.schedule();
    };
    void tick();
    this.timers.push(window.setInterval(tick, 2000));
  }

  stop(): void {
    this.feed.stop();
    for (const t of this.timers) window.clearInterval(t);
    this.timers = [];
    if (this.redraw !== null) window.clearTimeout(this.redraw);
  }

  async pollSite(): Promise<void> {
    const [metrics, bundle, devices] = await Promise.all([
      metricsText(),
      get<BundleLike>('/v1/bundles/current').catch(() => null),
      get<{ items: DeviceDoc[] }>('/v1/devices?limit=500'),
    ]);
    this.counted = parsePairs(metrics);
    this.bundle = bundle;
    this.devices = devices.items;
    this.deviceByAddress = new Map(devices.items.flatMap((d) => d.spec.addresses.map((a) => [a, d.metadata.name] as [string, string])));
  }

  /** Every segment the bundle knows or a flow names. */
  segments(): string[] {
    const out = new Set(Object.keys(this.bundle?.identities ?? {}));
    for (const p of this.pairs) out.add(p.src).add(p.dst);
    return [...out].sort();
  }
}
