// SPDX-License-Identifier: Apache-2.0
/**
 * The bench's own programs (bpf/bench), loaded and run through bpftool:
 * BPF_PROG_TEST_RUN on a packet, the average duration per repeat.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BENCH_OBJECTS = join(__dirname, '../../bpf/bench');

function bpftool(...args: string[]): string {
  return execFileSync('bpftool', args, { encoding: 'utf8' });
}

/** A packet in a file, for bpftool's data_in; removed by the returned function. */
export function packetFile(pkt: Buffer): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-pkt-'));
  const file = join(dir, 'packet');
  writeFileSync(file, pkt);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Loads every program of an object, pinned under progDir, its maps under mapDir. */
export function loadAll(object: string, progDir: string, mapDir: string): void {
  rmSync(progDir, { recursive: true, force: true });
  rmSync(mapDir, { recursive: true, force: true });
  bpftool('prog', 'loadall', join(BENCH_OBJECTS, object), progDir, 'type', 'classifier', 'pinmaps', mapDir);
}

/** Loads one program, pinned at pin. */
export function load(object: string, pin: string): void {
  rmSync(pin, { force: true });
  bpftool('prog', 'load', join(BENCH_OBJECTS, object), pin, 'type', 'classifier');
}

/** Runs a pinned program repeat times on the packet in file; the average ns per repeat. */
export function runPinned(pin: string, file: string, repeat: number): number {
  const out = bpftool('prog', 'run', 'pinned', pin, 'data_in', file, 'repeat', String(repeat));
  const m = /duration(?: \(average\))?: (\d+)ns/.exec(out);
  if (!m) throw new Error(`bpftool prog run printed no duration: ${out}`);
  return Number(m[1]);
}

/** Puts the pinned program progPin in slot 0 of the pinned program array mapPin. */
export function setTailCall(mapPin: string, progPin: string): void {
  bpftool('map', 'update', 'pinned', mapPin, 'key', '0', '0', '0', '0', 'value', 'pinned', progPin);
}
