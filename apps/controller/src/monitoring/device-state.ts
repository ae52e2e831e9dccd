// SPDX-License-Identifier: Apache-2.0
/** The detector's per-device state and its memory layout (detector.ts explains what each part is for). */
import type { DetectorOptions } from './detector-options';
import { CappedHashSet, UsageSet } from './sketch';

export const SAMPLE = 3;
/** Recent buckets of volume (5 minutes at the default interval). */
export const BUCKETS = 30;
/** Past windows kept per volume scale. */
export const HISTORY = 16;
export const MAX_SCALES = 4;
/** Novel targets remembered for scan counting. */
export const RING = 40;
export const F_PEER = 1;
export const F_PORT = 2;
export const F_LEARNED = 4;
export const F_SCANNED = 8;
export const F_WORLD = 16;
/** Refused (denied) or unanswered: what most of a scan's attempts are. */
export const F_FAILED = 32;
/** A ring entry's time (seconds since the device was first seen, 26 bits: two years) shares its word with the flags. */
export const FLAG_SHIFT = 26;
export const TIME_MASK = (1 << FLAG_SHIFT) - 1;
export const QUANTILE = 0.95;

// Per track (world, local), in a device's Float32Array: recent buckets, history per
// scale, threshold before the seasonal index per scale, 95th percentile per scale
// (for clipping), bytes per hour of day. Offsets depend on the number of scales.
// Per track in its Float64Array: quiet-until per scale, the sum of the scale's closed buckets
// in the window (all but the open one) per scale, then these fields:
export const M_CUR = 0; // bytes of the open bucket
export const M_HOUR = 1; // bytes of the open hour
export const M_SEEN = 2; // hours of day learnt (bit mask)
export const M_ANOMALOUS = 3; // the open hour had a volume anomaly
export const M_BURST_AT = 4; // time of the burst sum's last update
export const M_BURST_SINCE = 5; // when the burst sum last rose from zero
export const M_FIELDS = 6;

/** Everything the detector keeps for one device, in a few typed arrays (under 4 KB). */
export class DeviceState {
  firstSeen: number;
  lastSeen: number;
  /** Observed since the last write to the store (baseline-sync.ts writes only these). */
  changed = true;
  /** The peers', the ports' and the ring's words in one array (what baseline-codec.ts copies). */
  readonly words: Uint32Array;
  readonly peers: UsageSet;
  readonly ports: UsageSet;
  // --- novel-target ring: peerKey, portKey, dst hash, flags and time (seconds since firstSeen)
  readonly ring: Uint32Array;
  ringHead = 0;
  ringSize = 0;
  scanUntil = 0;
  scanWindow = 0;
  scanTargets = 0;
  noveltyUntil = 0;
  novelty = 0;
  noveltySuppressed = 0;
  /** The last few novel targets as text, for a scan's evidence (allocated on the first). */
  novelSample: string[] | null = null;
  // --- volume (layout above)
  readonly vol: Float32Array;
  readonly vmeta: Float64Array;
  recentHead = 0;
  bucketStart: number;
  bucketIndex: number;
  hourStart: number;
  lastSrc = 0;
  gap = 0;
  // --- denied burst
  deniedStart: number;
  denied = 0;
  deniedPackets = 0;
  deniedTargets: CappedHashSet | null = null;
  deniedSample: string[] | null = null;
  deniedRaised = false;
  constructor(t: number, o: DetectorOptions, scales: number, trackSize: number) {
    this.firstSeen = this.lastSeen = t;
    // One buffer for the volume state, one for the hash sets and the ring (views, not copies).
    // Per track and scale at the end of vmeta: history count, next slot.
    const metaLength = 2 * (2 * scales + M_FIELDS) + 2 * scales * 2;
    const buf = new ArrayBuffer(metaLength * 8 + 2 * trackSize * 4);
    this.vmeta = new Float64Array(buf, 0, metaLength);
    this.vol = new Float32Array(buf, metaLength * 8, 2 * trackSize);
    const words = (this.words = new Uint32Array(2 * o.peerCapacity + 2 * o.portCapacity + RING * 4));
    this.peers = new UsageSet(o.peerCapacity, words.subarray(0, 2 * o.peerCapacity));
    this.ports = new UsageSet(o.portCapacity, words.subarray(2 * o.peerCapacity, 2 * o.peerCapacity + 2 * o.portCapacity));
    this.ring = words.subarray(2 * o.peerCapacity + 2 * o.portCapacity);
    this.bucketIndex = Math.floor(t / o.intervalMs);
    this.bucketStart = this.bucketIndex * o.intervalMs;
    this.hourStart = t - (t % 3600_000);
    this.deniedStart = t;
  }
}

/** Bits set in a flag word. */
export function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}
