// SPDX-License-Identifier: Apache-2.0
/** What the anomaly detector reports, and the thresholds and options that judge it (detector.ts). */

export const ANOMALY_KINDS = ['new_peer', 'new_port', 'volume', 'scan', 'denied_burst'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Anomaly {
  device: string;
  kind: AnomalyKind;
  severity: Severity;
  evidence: Record<string, unknown>;
  /** ISO time of the flow (or window end) that raised it. */
  at: string;
}

/** What a segment may set for its own devices (Segment spec.monitoring); the rest is site-wide. */
export interface Thresholds {
  /** How long a device's baseline learns before novelty and volume are judged (default 7 days). */
  learningWindowMs: number;
  /** Per volume window: how many times the 95th percentile of past windows is anomalous (default 4, 3, 2). */
  volumeRatios: number[];
  /** ... and how many robust deviations (1.4826 x MAD) above the median (default 8). */
  volumeScore: number;
  /** Bytes in a window below which nothing is a volume anomaly (default 8 KiB). */
  volumeFloorBytes: number;
  /** Burst: the track's running sum of bytes above twice its usual rate (a CUSUM) is anomalous above this many times its learnt peak (default 1.5)... */
  burstRatio: number;
  /** ... and above this many bytes (default 2 KiB). */
  burstFloorBytes: number;
  /** Fast scan: distinct novel targets in scanWindowMs (default 16 in 10 s). */
  scanDistinct: number;
  scanWindowMs: number;
  /** Slow scan (default 20 in 60 s: 30 addresses over 40 s is a scan). */
  slowScanDistinct: number;
  slowScanWindowMs: number;
  /**
   * Early scan, once a device has learnt: failed attempts (refused or unanswered) to this many
   * distinct novel targets in scanWindowMs, all on one port or all to one host; and, across a
   * segment, from distributedScanDevices devices (default 4).
   */
  earlyScanDistinct: number;
  /** Long scan (default 32 in 10 min). */
  longScanDistinct: number;
  longScanWindowMs: number;
  /** Distinct novel targets of one segment's devices in slowScanWindowMs that make a distributed scan (default 24). */
  distributedScanDistinct: number;
  /** Devices of one segment that must share in it (default 3). */
  distributedScanDevices: number;
  /** Denied attempts in deniedWindowMs that make a denied burst (default 30 in 10 s). */
  deniedBurst: number;
  deniedWindowMs: number;
  /** new_peer / new_port anomalies per device per incident window; the rest are counted into the incident (default 3). */
  noveltyPerIncident: number;
  /** A port on which the device learnt this many world peers accepts any world peer (an NTP pool; default 8). */
  diversePeers: number;
  /** Anomalies of one device less than this apart are one incident (default 10 min). */
  incidentWindowMs: number;
}

export interface DetectorOptions extends Thresholds {
  /** Volume bucket (default 10 s); volume windows are multiples of it. */
  intervalMs: number;
  /** Volume windows (default 10 s, 1 min, 5 min; at most 4, each at most 30 intervals). */
  volumeWindowsMs: number[];
  /** Windows of history needed before a volume scale is judged, at most (default 8). */
  volumeMinSamples: number;
  /** World addresses are compared by this prefix (default /24 and /48). */
  peerPrefixV4: number;
  peerPrefixV6: number;
  peerCapacity: number;
  portCapacity: number;
  /** Devices tracked at once; the least recently created is forgotten first. */
  maxDevices: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  learningWindowMs: 7 * 24 * 3600_000,
  volumeRatios: [4, 3, 2],
  volumeScore: 8,
  volumeFloorBytes: 8 * 1024,
  burstRatio: 1.5,
  burstFloorBytes: 2048,
  scanDistinct: 16,
  scanWindowMs: 10_000,
  slowScanDistinct: 20,
  slowScanWindowMs: 60_000,
  earlyScanDistinct: 4,
  longScanDistinct: 32,
  longScanWindowMs: 600_000,
  distributedScanDistinct: 24,
  distributedScanDevices: 3,
  deniedBurst: 30,
  deniedWindowMs: 10_000,
  noveltyPerIncident: 3,
  diversePeers: 8,
  incidentWindowMs: 600_000,
};

export const DEFAULT_DETECTOR: DetectorOptions = {
  ...DEFAULT_THRESHOLDS,
  intervalMs: 10_000,
  volumeWindowsMs: [10_000, 60_000, 300_000],
  volumeMinSamples: 8,
  peerPrefixV4: 24,
  peerPrefixV6: 48,
  peerCapacity: 32,
  portCapacity: 16,
  maxDevices: 100_000,
};
