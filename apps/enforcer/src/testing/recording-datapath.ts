// SPDX-License-Identifier: Apache-2.0
/**
 * A DatapathPort that records calls, for tests of the daemon's ordering logic
 * (apply before attach, resume without re-apply, detach only when asked).
 * It judges no packet: every claim about packets is tested with the real addon.
 */
import type { DatapathEvent, DatapathFlow, DatapathPair, DatapathPort, Direction } from '../datapath.port';
import type { IpcacheEntry, PolicyEntry } from '../../../../native/lib/abi';

export type Call =
  | { op: 'attach' | 'detach'; ifname: string; direction: Direction; netns?: string }
  | { op: 'apply'; generation: number; ipcache: IpcacheEntry[]; policy: PolicyEntry[]; auditAll: boolean; linkLocalDrop: boolean }
  | { op: 'close' | 'unpin' };

export class RecordingDatapath implements DatapathPort {
  calls: Call[] = [];
  flowTable: DatapathFlow[] = [];
  pairs: DatapathPair[] = [];
  reasons: Record<string, { packets: number; bytes: number }> = {};
  private st = { epoch: 0, generation: 0, auditAll: false };
  failNextApply: Error | null = null;
  suppressed = 0;
  private eventSink: ((e: DatapathEvent[]) => void) | null = null;

  constructor(
    readonly adopted = false,
    generation = 0,
  ) {
    this.st.generation = generation;
  }
  async attach(ifname: string, direction: Direction, opts: { netns?: string } = {}) {
    this.calls.push({ op: 'attach', ifname, direction, ...(opts.netns ? { netns: opts.netns } : {}) });
  }
  async detach(ifname: string, direction: Direction, opts: { netns?: string } = {}) {
    this.calls.push({ op: 'detach', ifname, direction, ...(opts.netns ? { netns: opts.netns } : {}) });
  }
  async applyGeneration(g: { generation: number; ipcache: readonly IpcacheEntry[]; policy: readonly PolicyEntry[]; auditAll?: boolean; linkLocalDrop?: boolean }) {
    if (this.failNextApply) {
      const e = this.failNextApply;
      this.failNextApply = null;
      throw e;
    }
    this.calls.push({ op: 'apply', generation: g.generation, ipcache: [...g.ipcache], policy: [...g.policy], auditAll: g.auditAll === true, linkLocalDrop: g.linkLocalDrop === true });
    this.st = { epoch: this.st.epoch + 1, generation: g.generation, auditAll: g.auditAll === true };
    return { epoch: this.st.epoch, durationMs: 0.1 };
  }
  state() {
    return { ...this.st };
  }
  async flows() {
    return this.flowTable.map((f) => ({ ...f }));
  }
  pairStats() {
    return this.pairs.map((p) => ({ ...p }));
  }
  reasonStats() {
    return { ...this.reasons };
  }
  mapFill() {
    return { flows: { entries: this.flowTable.length, max: 262144 } };
  }
  onEvents(cb: (e: DatapathEvent[]) => void) {
    if (this.eventSink) throw new Error('events already have a subscriber on this datapath');
    this.eventSink = cb;
    return () => {
      this.eventSink = null;
    };
  }
  suppressedEvents() {
    return this.suppressed;
  }
  /** Delivers events as the ring-buffer poller would; false when nobody listens. */
  emit(events: DatapathEvent[]): boolean {
    this.eventSink?.(events);
    return this.eventSink !== null;
  }
  close() {
    this.calls.push({ op: 'close' });
  }
  unpin() {
    this.calls.push({ op: 'unpin' });
  }
  applied(): number[] {
    return this.calls.flatMap((c) => (c.op === 'apply' ? [c.generation] : []));
  }
  ops(): string[] {
    return this.calls.map((c) => (c.op === 'apply' ? `apply:${c.generation}` : 'ifname' in c ? `${c.op}:${c.ifname}:${c.direction}` : c.op));
  }
}
