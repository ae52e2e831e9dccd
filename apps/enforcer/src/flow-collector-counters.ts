// SPDX-License-Identifier: Apache-2.0
/**
 * What the flow collector remembers between polls besides the raw tables'
 * counters (RawFlowCounters): decoded flows' counters, pair and reason
 * counters, and the last MAC drop events showed per source.
 */
import { advanceCounters } from './raw-flow-counters';
import { trimOldest } from '../../common/src/lru';

/**
 * The counters each decoded flow (datapaths without flowsRaw()) had at the
 * previous poll: a Map from the flow's identity string to a slot in typed
 * arrays. Raw dumps use RawFlowCounters, which needs no key object at all.
 * Flows absent from a poll are forgotten by sweep().
 */
export class FlowCounters {
  private readonly slots = new Map<string, number>();
  private counters = new Float64Array(4 * 1024);
  private marks = new Uint32Array(1024);
  private free: number[] = [];
  private used = 0;
  private epoch = 0;

  get size(): number {
    return this.slots.size;
  }

  /** Starts a poll: every flow not seen() before sweep() is forgotten. */
  begin(): void {
    this.epoch = (this.epoch + 1) >>> 0 || 1;
  }

  /**
   * Records a flow's cumulative counters; writes the increments since the
   * previous poll into inc (a counter lower than before restarts from 0: the
   * entry was evicted and re-created, count it whole). Returns true when new.
   */
  seen(key: string, pf: number, bf: number, pr: number, br: number, inc: Float64Array): boolean {
    let slot = this.slots.get(key);
    const fresh = slot === undefined;
    if (slot === undefined) {
      slot = this.free.pop() ?? this.grow();
      this.slots.set(key, slot);
    }
    advanceCounters(this.counters, slot * 4, fresh, pf, bf, pr, br, inc);
    this.marks[slot] = this.epoch;
    return fresh;
  }

  /** Forgets the flows this poll did not see (expired or evicted in the kernel). */
  sweep(): void {
    for (const [k, slot] of this.slots) {
      if (this.marks[slot] !== this.epoch) {
        this.slots.delete(k);
        this.free.push(slot);
      }
    }
    // Shrink once most slots are free (a storm has passed), so memory follows the table.
    if (this.used > 4096 && this.slots.size < this.used / 4) this.compact();
  }

  private grow(): number {
    if (this.used === this.marks.length) {
      const marks = new Uint32Array(this.marks.length * 2);
      marks.set(this.marks);
      this.marks = marks;
      const counters = new Float64Array(this.counters.length * 2);
      counters.set(this.counters);
      this.counters = counters;
    }
    return this.used++;
  }

  private compact(): void {
    const n = Math.max(1024, 1 << Math.ceil(Math.log2(this.slots.size * 2 || 1)));
    const counters = new Float64Array(4 * n);
    const marks = new Uint32Array(n);
    let next = 0;
    for (const [k, slot] of this.slots) {
      counters.set(this.counters.subarray(slot * 4, slot * 4 + 4), next * 4);
      marks[next] = this.marks[slot];
      this.slots.set(k, next++);
    }
    this.counters = counters;
    this.marks = marks;
    this.used = next;
    this.free = [];
  }
}

/** The last MAC a drop event showed for a source address on this enforcer (flows of sources that no Device binds carry none). */
export class SourceMacs {
  private readonly macs = new Map<string, string>();
  constructor(private readonly max = 4096) {}
  set(src: string, mac: string): void {
    if (!mac || mac === '00:00:00:00:00:00') return;
    if (this.macs.get(src) === mac) return;
    this.macs.delete(src);
    this.macs.set(src, mac);
    trimOldest(this.macs, this.max);
  }
  get(src: string): string {
    return this.macs.get(src) ?? '';
  }
}

/** A datapath pair counter as the collector reads it. */
export interface PairCount {
  srcIdentity: number;
  dstIdentity: number;
  verdict: string;
  reason: string;
  packets: number;
  bytes: number;
}

/**
 * The pair counters of the previous poll, keyed by pair and outcome;
 * advance() gives the increments since (a pair LRU-evicted and re-created
 * restarts from 0: it counts whole) and forgets pairs no longer dumped.
 */
export class PairCounters {
  private prev = new Map<string, { packets: number; bytes: number }>();

  advance(pairs: readonly PairCount[]): Array<{ pair: PairCount; packets: number; bytes: number }> {
    const next = new Map<string, { packets: number; bytes: number }>();
    const out: Array<{ pair: PairCount; packets: number; bytes: number }> = [];
    for (const p of pairs) {
      const k = `${p.srcIdentity}|${p.dstIdentity}|${p.verdict}|${p.reason}`;
      const before = this.prev.get(k);
      next.set(k, { packets: p.packets, bytes: p.bytes });
      out.push({
        pair: p,
        packets: before && p.packets >= before.packets ? p.packets - before.packets : p.packets,
        bytes: before && p.bytes >= before.bytes ? p.bytes - before.bytes : p.bytes,
      });
    }
    this.prev = next;
    return out;
  }
}

/** Packets dropped per reason at the previous poll; advance() gives the increments since. */
export class ReasonCounters {
  private readonly prev = new Map<string, number>();

  advance(reasons: Record<string, { packets: number }>): Array<[reason: string, packets: number]> {
    const out: Array<[string, number]> = [];
    for (const [reason, c] of Object.entries(reasons)) {
      const before = this.prev.get(reason);
      this.prev.set(reason, c.packets);
      out.push([reason, before !== undefined && c.packets >= before ? c.packets - before : c.packets]);
    }
    return out;
  }
}
