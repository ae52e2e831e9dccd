// SPDX-License-Identifier: Apache-2.0
/**
 * Distributed scans: the devices of one segment sharing a scan between them,
 * each staying under its own scan thresholds. Every novel target a device
 * tries (one its baseline does not hold, the same evidence the per-device scan
 * counts) also lands in its segment's ring; when the segment's ring holds
 * `distributedScanDistinct` distinct targets within the slow scan window, from
 * at least `distributedScanDevices` devices that tried two or more each, every
 * such device gets a `scan` of type `distributed`. Earlier, within the fast scan
 * window: failed attempts (refused or unanswered) to `earlyScanDistinct`
 * distinct novel targets or more, from `distributedScanDevices` devices or more
 * (one each is enough: devices that learnt rarely try anything new, let alone
 * several at once and in vain). Bounded: one ring per
 * segment (a few KB), at most MAX_SEGMENTS segments.
 */
import { trimOldest } from '../../../common/src/lru';
import type { Thresholds } from './detector-options';
import { hash32 } from './sketch';

const RING = 96;
const MAX_SEGMENTS = 4096;
/** Targets a device must have tried in the window to share in a distributed scan. */
const PER_DEVICE = 2;

class SegmentRing {
  readonly target = new Uint32Array(RING);
  readonly device = new Uint32Array(RING);
  readonly at = new Float64Array(RING);
  readonly failed = new Uint8Array(RING);
  head = 0;
  size = 0;
  /** device hash -> until when it is part of a reported distributed scan */
  readonly reported = new Map<string, number>();
}

export interface DistributedScan {
  /** Every device sharing in it. */
  devices: string[];
  /** Those not reported before: each gets a scan. */
  fresh: string[];
  distinctTargets: number;
  windowSeconds: number;
}

export class DistributedScans {
  private readonly segments = new Map<string, SegmentRing>();
  /** device name by its hash, for the devices in some ring (bounded with the rings). */
  private readonly names = new Map<number, string>();
  private reportMs = 0;

  /**
   * One novel target of `device` (segment `segment`). Returns the devices that
   * now share in a distributed scan not reported yet, or null.
   */
  observe(segment: string, device: string, targetHash: number, t: number, failed: boolean, o: Thresholds): DistributedScan | null {
    const minDevices = o.distributedScanDevices;
    this.reportMs = o.slowScanWindowMs;
    let s = this.segments.get(segment);
    if (!s) {
      s = new SegmentRing();
      this.segments.set(segment, s);
      trimOldest(this.segments, MAX_SEGMENTS);
    }
    const dh = hash32(device);
    this.names.set(dh, device);
    if (this.names.size > 50_000) trimOldest(this.names, 40_000);
    const j = s.head;
    s.target[j] = targetHash;
    s.device[j] = dh;
    s.at[j] = t;
    s.failed[j] = failed ? 1 : 0;
    s.head = (j + 1) % RING;
    if (s.size < RING) s.size++;
    return this.judge(s, t, o.slowScanWindowMs, o.distributedScanDistinct, minDevices, PER_DEVICE, false) ?? (failed ? this.judge(s, t, o.scanWindowMs, o.earlyScanDistinct, minDevices, 1, true) : null);
  }

  /** The window's distinct targets (only failed attempts with `failedOnly`), and the devices with `perDeviceMin` or more. */
  private judge(s: SegmentRing, t: number, windowMs: number, distinct: number, minDevices: number, perDeviceMin: number, failedOnly: boolean): DistributedScan | null {
    // Count the window: distinct targets, and targets per device (cheap check first).
    const from = t - windowMs;
    let inWindow = 0;
    for (let i = 0, k = s.head; i < s.size; i++) {
      k = (k + RING - 1) % RING;
      if (s.at[k] < from) break;
      if (!failedOnly || s.failed[k]) inWindow++;
    }
    if (inWindow < distinct) return null;
    const targets = new Set<number>();
    const perDevice = new Map<number, number>();
    for (let i = 0, k = s.head; i < s.size; i++) {
      k = (k + RING - 1) % RING;
      if (s.at[k] < from) break;
      if (failedOnly && !s.failed[k]) continue;
      targets.add(s.target[k]);
      perDevice.set(s.device[k], (perDevice.get(s.device[k]) ?? 0) + 1);
    }
    if (targets.size < distinct) return null;
    const sharing = [...perDevice.entries()].filter(([, n]) => n >= perDeviceMin).map(([d]) => d);
    if (sharing.length < minDevices) return null;
    const fresh: string[] = [];
    for (const d of sharing) {
      const name = this.names.get(d);
      if (!name || (s.reported.get(name) ?? 0) > t) continue;
      // Reported once for the slow window, whichever rule found it first.
      s.reported.set(name, t + Math.max(windowMs, this.reportMs));
      fresh.push(name);
    }
    if (s.reported.size > RING) for (const [k, until] of s.reported) if (until <= t) s.reported.delete(k);
    return fresh.length ? { devices: sharing.map((d) => this.names.get(d) ?? '?'), fresh, distinctTargets: targets.size, windowSeconds: windowMs / 1000 } : null;
  }

  clear(): void {
    this.segments.clear();
    this.names.clear();
  }
}
