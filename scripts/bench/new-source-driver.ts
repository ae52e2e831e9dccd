// SPDX-License-Identifier: Apache-2.0
/**
 * New connections measured over many repeats (bpf/bench/new-source.bpf.c):
 * each repeat of BPF_PROG_TEST_RUN gets a new source address and port, then
 * tail-calls the datapath's ingress program, so every repeat is a new
 * connection from a new source, judged and inserted. The driver's own cost
 * (rewrite and tail call into a program that does nothing) is measured the
 * same way and taken off.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { loadAll, packetFile, runPinned, setTailCall } from './bpftool-prog';

const PROGS = '/sys/fs/bpf/cordon-bench-new-source';
const MAPS = '/sys/fs/bpf/cordon-bench-new-source-maps';
const DRIVER = join(PROGS, 'new_source');
const TARGET = join(MAPS, 'new_source_target');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export class NewSourceDriver {
  private constructor(private readonly repeat: number, private readonly runs: number) {}

  static load(repeat: number, runs: number): NewSourceDriver {
    loadAll('new-source.bpf.o', PROGS, MAPS);
    return new NewSourceDriver(repeat, runs);
  }

  /** The median ns per repeat of the driver alone (rewrite, tail call into a program returning at once). */
  driverNs(pkt: Buffer): number {
    setTailCall(TARGET, join(PROGS, 'new_source_none'));
    return this.medianRun(pkt);
  }

  /**
   * ns per repeat of a new connection through dp's ingress program, driver included: the median of the
   * runs that found the flow table filling and left it so (one run is ~50 ms, and one of this VM's spikes
   * moved a single run by up to 1.5x), and the median of those that found it full (each connection
   * evicting the oldest); a run that fills it up is neither. Checks that the connections were tracked.
   */
  async connectionNs(dp: Datapath, pkt: Buffer): Promise<{ fillingNs: number; fullNs: number | null }> {
    setTailCall(TARGET, join(dp.pinDir, 'prog_ingress'));
    const f = packetFile(pkt);
    const filling: number[] = [];
    const full: number[] = [];
    try {
      const { max } = (await dp.mapFill()).flows;
      const isFull = (n: number) => n >= max * 0.99; // an LRU holds a little under max: its free lists are per CPU
      for (let i = 0; i < this.runs; i++) {
        const before = (await dp.mapFill()).flows.entries;
        const ns = runPinned(DRIVER, f.file, this.repeat);
        const after = (await dp.mapFill()).flows.entries;
        // the table filling shows the connections allowed and tracked (a full one evicts one for each)
        if (!isFull(before) && after - before < Math.min(this.repeat, max - before) * 0.9)
          throw new Error(`new connections were not tracked: flows ${before} -> ${after} after ${this.repeat}`);
        if (isFull(before)) full.push(ns);
        else if (!isFull(after)) filling.push(ns);
      }
      if (!filling.length) throw new Error(`no run of ${this.repeat} left the flow table filling`);
      return { fillingNs: median(filling), fullNs: full.length ? median(full) : null };
    } finally {
      f.remove();
    }
  }

  close(): void {
    rmSync(PROGS, { recursive: true, force: true });
    rmSync(MAPS, { recursive: true, force: true });
  }

  private medianRun(pkt: Buffer): number {
    const f = packetFile(pkt);
    try {
      return median(Array.from({ length: this.runs }, () => runPinned(DRIVER, f.file, this.repeat)));
    } finally {
      f.remove();
    }
  }
}
