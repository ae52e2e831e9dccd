// SPDX-License-Identifier: Apache-2.0
/**
 * A device's ring of recent novel targets (detector.ts): what scans are counted
 * on, and how a target that was no scan joins the baseline when it leaves.
 */
import type { Thresholds } from './detector-options';
import * as layout from './device-state';
import type { DeviceState } from './device-state';

// Module-scope copies: read on every novel target.
const { RING, F_PEER, F_PORT, F_LEARNED, F_SCANNED, F_WORLD, TIME_MASK, FLAG_SHIFT } = layout;

/** What a scan counted in one window. */
export interface ScanCount {
  targets: number;
  destinations: number;
  ports: number;
}

/** Into the baseline; `newWorldPeer` counts one more world peer learnt on the port. */
export function learn(s: DeviceState, peerKey: number, portKey: number, newWorldPeer: boolean): void {
  s.peers.add(peerKey);
  const slot = s.ports.add(portKey);
  if (newWorldPeer) s.ports.bumpAux(slot);
}

export function push(s: DeviceState, peerKey: number, portKey: number, dstH: number, now: number, flags: number): void {
  if (s.ringSize === RING) retire(s, s.ringHead); // full: the oldest sits where the next is written
  const j = s.ringHead;
  s.ring[j * 4] = peerKey;
  s.ring[j * 4 + 1] = portKey;
  s.ring[j * 4 + 2] = dstH;
  s.ring[j * 4 + 3] = (now & TIME_MASK) | (flags << FLAG_SHIFT);
  s.ringHead = (j + 1) % RING;
  if (s.ringSize < RING) s.ringSize++;
}

/** The oldest entry leaves the ring: a target that was no scan joins the baseline now. */
function retire(s: DeviceState, j: number): void {
  const f = (s.ring[j * 4 + 3] >>> FLAG_SHIFT);
  if (!(f & (F_SCANNED | F_LEARNED))) learn(s, s.ring[j * 4], s.ring[j * 4 + 1], (f & F_PEER) !== 0 && (f & F_WORLD) !== 0);
  // The sample shows the targets of what is in the ring now.
  if (--s.ringSize === 0) s.novelSample = null;
}

/** Entries older than the longest scan window leave the ring. */
export function expire(s: DeviceState, now: number, o: Thresholds): void {
  const horizon = Math.ceil(Math.max(o.scanWindowMs, o.slowScanWindowMs, o.longScanWindowMs) / 1000);
  while (s.ringSize > 0) {
    const oldest = (s.ringHead + RING - s.ringSize) % RING;
    if (now - (s.ring[oldest * 4 + 3] & TIME_MASK) <= horizon) break;
    retire(s, oldest);
  }
}

/** Entries since `from` not part of a scan yet (with `need`, only those with every flag of it). */
export function targetsSince(s: DeviceState, from: number, need = 0): number {
  let n = 0;
  for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
    j = (j + RING - 1) % RING;
    if ((s.ring[j * 4 + 3] & TIME_MASK) < from) break;
    const f = s.ring[j * 4 + 3] >>> FLAG_SHIFT;
    if (!(f & F_SCANNED) && (f & need) === need) n++;
  }
  return n;
}

/** Distinct targets, destinations and ports among the ring's entries since `from` (with `need`: those with its flags). */
export function count(s: DeviceState, from: number, need = 0): ScanCount {
  let targets = 0;
  let destinations = 0;
  let ports = 0;
  for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
    j = (j + RING - 1) % RING;
    if ((s.ring[j * 4 + 3] & TIME_MASK) < from) break;
    // What a scan already reported is not evidence of another.
    const f = s.ring[j * 4 + 3] >>> FLAG_SHIFT;
    if (f & F_SCANNED || (f & need) !== need) continue;
    targets++;
    let dupDst = false;
    let dupPort = false;
    for (let k = (j + 1) % RING; k !== s.ringHead && !(dupDst && dupPort); k = (k + 1) % RING) {
      const g = s.ring[k * 4 + 3] >>> FLAG_SHIFT;
      if (g & F_SCANNED || (g & need) !== need) continue;
      if (s.ring[k * 4 + 2] === s.ring[j * 4 + 2]) dupDst = true;
      if (s.ring[k * 4 + 1] === s.ring[j * 4 + 1]) dupPort = true;
    }
    if (!dupDst) destinations++;
    if (!dupPort) ports++;
  }
  return { targets, destinations, ports };
}

/** Marks the ring's entries since `from` as a scan; what they taught the baseline while learning is taken back. */
export function markScan(s: DeviceState, from: number): void {
  for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
    j = (j + RING - 1) % RING;
    if ((s.ring[j * 4 + 3] & TIME_MASK) < from) break;
    const f = s.ring[j * 4 + 3] >>> FLAG_SHIFT;
    if (f & F_LEARNED) {
      if (f & F_PEER) s.peers.delete(s.ring[j * 4]);
      if (f & F_PORT) s.ports.delete(s.ring[j * 4 + 1]);
    }
    s.ring[j * 4 + 3] = (s.ring[j * 4 + 3] & TIME_MASK) | (((f & ~F_LEARNED) | F_SCANNED) << FLAG_SHIFT);
  }
}
