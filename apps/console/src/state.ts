// SPDX-License-Identifier: Apache-2.0
/**
 * What the views share: the flows (polled with back-pressure), the segment-pair
 * counters, the current bundle and the devices, refreshed on timers while
 * signed in.
 */
import { get, metricsText } from './api';
import { FlowStore, type Flow } from './flows';
import type { BundleLike } from './matrix';
import { parsePairs, type PairTraffic } from './pairs';

/** At most this many flow rows a poll, one poll a second: a busy site cannot flood the page. */
export const ROWS_PER_POLL = 500;
export const POLL_MS = 1000;

export interface DeviceDoc {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { addresses: string[]; mac?: string; firmware?: string };
}

/**
 * The counters' pairs, plus the pairs of rows the counters do not name yet (a
 * flow reported before its pair counter, or a verdict the enforcer counts per
 * flow only): an edge for every flow the page holds.
 */
export function withRows(pairs: PairTraffic[], rows: readonly Flow[]): PairTraffic[] {
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
  bundle: BundleLike | null = null;
  devices: DeviceDoc[] = [];
  private deviceByAddress = new Map<string, string>();
  /** Polls whose answer was cut at ROWS_PER_POLL (the counters on the map still count everything). */
  saturatedPolls = 0;
  lastPollRows = 0;
  /** Where the next flows poll starts: the controller's receive order, so a flow reported late is not skipped. */
  private cursor: string | undefined;
  private timers: number[] = [];
  private listeners = new Set<() => void>();
  error: string | null = null;

  deviceOf = (address: string) => this.deviceByAddress.get(address);

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  private changed() {
    for (const fn of this.listeners) fn();
  }

  start(): void {
    const loop = (fn: () => Promise<void>, ms: number) => {
      let busy = false;
      const tick = async () => {
        if (busy) return; // the previous call has not answered: skip, never pile up
        busy = true;
        try {
          await fn();
          this.error = null;
        } catch (e) {
          this.error = (e as Error).message;
        } finally {
          busy = false;
        }
        this.changed();
      };
      void tick();
      this.timers.push(window.setInterval(tick, ms));
    };
    loop(() => this.pollFlows(), POLL_MS);
    loop(() => this.pollSite(), 2000);
  }

  stop(): void {
    for (const t of this.timers) window.clearInterval(t);
    this.timers = [];
  }

  async pollFlows(): Promise<void> {
    const q = new URLSearchParams({ limit: String(ROWS_PER_POLL) });
    if (this.cursor !== undefined) q.set('after', this.cursor);
    const r = await get<{ now: number; cursor: string; items: Flow[] }>(`/v1/flows?${q}`);
    this.flows.add(r.items);
    this.lastPollRows = r.items.length;
    if (r.items.length >= ROWS_PER_POLL) this.saturatedPolls++;
    this.cursor = r.cursor;
  }

  async pollSite(): Promise<void> {
    const [metrics, bundle, devices] = await Promise.all([
      metricsText(),
      get<BundleLike>('/v1/bundles/current').catch(() => null),
      get<{ items: DeviceDoc[] }>('/v1/devices?limit=500'),
    ]);
    this.pairs = withRows(parsePairs(metrics), this.flows.values());
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
