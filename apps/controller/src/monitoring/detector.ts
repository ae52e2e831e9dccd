// SPDX-License-Identifier: Apache-2.0
/**
 * Baselines and anomalies, per device, incremental and bounded in memory.
 *
 * Each device keeps (under 4 KB with its map entry, whatever its traffic):
 *   - the peers and (protocol, port) pairs it initiated flows to, as capped hash
 *     sets (a device too diverse to fill them is not judged on novelty);
 *   - bytes per interval (default a minute) over the last `historySize`
 *     intervals, judged by a robust score: (x - median) / (1.4826 * MAD), so a
 *     few past spikes do not move the threshold, and an anomalous interval is
 *     clipped before it joins the history so an attack cannot teach itself in;
 *   - a short scan window: distinct destinations and distinct (destination,
 *     port) pairs, and denied attempts (packets with verdict deny or audit).
 * Novelty and volume are judged only once the device's learning window is over;
 * scans and denied bursts are judged from the first flow.
 */
import { CappedHashSet, hash32, mix32, RobustWindow } from './sketch';
import { FlowRecord, shortReason, shortVerdict, transportName } from './flow-record';

export const ANOMALY_KINDS = ['new_peer', 'new_port', 'volume', 'scan', 'denied_burst'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Anomaly {
  device: string;
  kind: AnomalyKind;
  severity: Severity;
  evidence: Record<string, unknown>;
  /** ISO time of the flow (or interval end) that raised it. */
  at: string;
}

export interface DetectorOptions {
  /** How long a device's baseline learns before it is judged (default 7 days). */
  learningWindowMs: number;
  /** Volume interval (default 60 s). */
  intervalMs: number;
  /** Intervals of volume history kept (default 60, at most 256). */
  historySize: number;
  /** Intervals of history needed before volume is judged (default 10). */
  volumeMinSamples: number;
  /** Robust score above which an interval is anomalous (default 8). */
  volumeScore: number;
  /** Bytes per interval below which nothing is called a volume anomaly (default 64 KiB). */
  volumeFloorBytes: number;
  scanWindowMs: number;
  /** Distinct destinations, or distinct (destination, port) pairs, in a scan window (default 24). */
  scanDistinct: number;
  deniedWindowMs: number;
  /** Denied attempts (flow records with verdict deny or audit) in a window (default 30). */
  deniedBurst: number;
  peerCapacity: number;
  portCapacity: number;
  /** Devices tracked at once; the least recently seen is forgotten first. */
  maxDevices: number;
}

export const DEFAULT_DETECTOR: DetectorOptions = {
  learningWindowMs: 7 * 24 * 3600_000,
  intervalMs: 60_000,
  historySize: 60,
  volumeMinSamples: 10,
  volumeScore: 8,
  volumeFloorBytes: 64 * 1024,
  scanWindowMs: 10_000,
  scanDistinct: 24,
  deniedWindowMs: 10_000,
  deniedBurst: 30,
  peerCapacity: 64,
  portCapacity: 32,
  maxDevices: 100_000,
};

const SAMPLE = 6;

class DeviceState {
  firstSeen: number;
  lastSeen: number;
  readonly peers: CappedHashSet;
  readonly ports: CappedHashSet;
  readonly volume: RobustWindow;
  bucketStart: number;
  bucketBytes = 0;
  bucketPackets = 0;
  scanStart: number;
  // Sized to count up to scanDistinct (32 slots hold 24, the default), which is all a scan needs.
  readonly scanDsts: CappedHashSet;
  readonly scanPairs: CappedHashSet;
  scanSample: string[] = [];
  scanRaised = false;
  deniedStart: number;
  denied = 0;
  deniedPackets = 0;
  deniedSample: string[] = [];
  deniedRaised = false;
  constructor(t: number, o: DetectorOptions) {
    this.firstSeen = this.lastSeen = t;
    this.peers = new CappedHashSet(o.peerCapacity);
    this.ports = new CappedHashSet(o.portCapacity);
    this.volume = new RobustWindow(o.historySize);
    let cap = 8;
    while ((cap * 3) >> 2 < o.scanDistinct) cap <<= 1;
    this.scanDsts = new CappedHashSet(cap);
    this.scanPairs = new CappedHashSet(cap);
    this.bucketStart = t - (t % o.intervalMs);
    this.scanStart = t;
    this.deniedStart = t;
  }
}

export class AnomalyDetector {
  readonly options: DetectorOptions;
  private readonly devices = new Map<string, DeviceState>();

  constructor(opts: Partial<DetectorOptions> = {}) {
    this.options = { ...DEFAULT_DETECTOR, ...opts };
  }

  get size(): number {
    return this.devices.size;
  }

  /** Forget every baseline (e.g. after changing the options). */
  reset(opts: Partial<DetectorOptions> = {}): void {
    Object.assign(this.options, opts);
    this.devices.clear();
  }

  forget(device: string): void {
    this.devices.delete(device);
  }

  learning(device: string, now: number): boolean | null {
    const s = this.devices.get(device);
    return s ? now < s.firstSeen + this.options.learningWindowMs : null;
  }

  baseline(device: string, now = Date.now()) {
    const s = this.devices.get(device);
    if (!s) return null;
    const { median, mad } = s.volume.stats();
    return {
      device,
      firstSeen: new Date(s.firstSeen).toISOString(),
      lastSeen: new Date(s.lastSeen).toISOString(),
      learning: now < s.firstSeen + this.options.learningWindowMs,
      learningUntil: new Date(s.firstSeen + this.options.learningWindowMs).toISOString(),
      peers: s.peers.size,
      peersSaturated: s.peers.full,
      ports: s.ports.size,
      portsSaturated: s.ports.full,
      volume: { intervals: s.volume.count, medianBytes: median, madBytes: mad, ewmaBytes: s.volume.ewma, intervalSeconds: this.options.intervalMs / 1000 },
    };
  }

  private state(device: string, t: number): DeviceState {
    let s = this.devices.get(device);
    if (!s) {
      if (this.devices.size >= this.options.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
      s = new DeviceState(t, this.options);
      this.devices.set(device, s);
    }
    return s;
  }

  /**
   * One flow record in which `device` is the source (`role` src: it initiated the
   * flow) or the destination. Pushes any anomaly raised into `out`.
   */
  observe(device: string, r: FlowRecord, role: 'src' | 'dst', t: number, out: Anomaly[]): void {
    const o = this.options;
    const s = this.state(device, t);
    if (t > s.lastSeen) s.lastSeen = t;
    const bytes = (r.bytesFwd || 0) + (r.bytesRev || 0);
    const packets = (r.packetsFwd || 0) + (r.packetsRev || 0);

    // volume: close finished intervals first
    if (t >= s.bucketStart + o.intervalMs) this.closeIntervals(device, s, t, out);
    s.bucketBytes += bytes;
    s.bucketPackets += packets;
    if (role !== 'src') return;

    const learning = t < s.firstSeen + o.learningWindowMs;
    const peerH = hash32(r.dst);
    const portH = mix32(mix32(0x9e3779b9, r.protocol), r.protocol === 6 || r.protocol === 17 ? r.dport : 0);
    const verdict = shortVerdict(r.verdict);

    // new peer / new port (only flows the network let through or would have: a denied
    // attempt is the denied-burst detector's business)
    if (verdict === 'deny') {
      // refused by policy: not behaviour the network carried, and not baseline
    } else if (learning) {
      s.peers.add(peerH);
      s.ports.add(portH);
    } else {
      if (!s.peers.has(peerH) && !s.peers.full) {
        s.peers.add(peerH);
        out.push({
          device,
          kind: 'new_peer',
          severity: r.dstIdentity === 1 ? 'high' : 'medium',
          evidence: { peer: r.dst, protocol: transportName(r.protocol), port: r.dport, verdict, baselinePeers: s.peers.size - 1 },
          at: new Date(t).toISOString(),
        });
      }
      if (!s.ports.has(portH) && !s.ports.full) {
        s.ports.add(portH);
        out.push({
          device,
          kind: 'new_port',
          severity: 'medium',
          evidence: { peer: r.dst, protocol: transportName(r.protocol), port: r.dport, verdict, baselinePorts: s.ports.size - 1 },
          at: new Date(t).toISOString(),
        });
      }
    }

    // scan: many distinct destinations or (destination, port) pairs in a short window
    if (t >= s.scanStart + o.scanWindowMs) {
      s.scanStart = t;
      s.scanDsts.clear();
      s.scanPairs.clear();
      s.scanSample = [];
      s.scanRaised = false;
    }
    const pairH = mix32(peerH, r.dport);
    const newDst = s.scanDsts.add(peerH);
    const newPair = s.scanPairs.add(pairH);
    if ((newDst || newPair) && s.scanSample.length < SAMPLE) s.scanSample.push(`${r.dst}:${r.dport}/${transportName(r.protocol)}`);
    let scanned = false;
    if (!s.scanRaised && (s.scanDsts.size >= o.scanDistinct || s.scanPairs.size >= o.scanDistinct)) {
      s.scanRaised = scanned = true;
      const horizontal = s.scanDsts.size >= o.scanDistinct;
      out.push({
        device,
        kind: 'scan',
        severity: 'high',
        evidence: {
          type: horizontal ? 'horizontal' : 'vertical',
          distinctDestinations: s.scanDsts.size,
          distinctTargets: s.scanPairs.size,
          windowSeconds: o.scanWindowMs / 1000,
          sample: s.scanSample.slice(),
        },
        at: new Date(t).toISOString(),
      });
    }

    // denied burst
    if (verdict === 'deny' || verdict === 'audit') {
      if (t >= s.deniedStart + o.deniedWindowMs) {
        s.deniedStart = t;
        s.denied = 0;
        s.deniedPackets = 0;
        s.deniedSample = [];
        s.deniedRaised = false;
      }
      // Attempts are flow records (a new connection attempt is a new source port, a new record).
      s.denied++;
      s.deniedPackets += Math.max(1, r.packetsFwd || 0);
      if (s.deniedSample.length < SAMPLE) s.deniedSample.push(`${r.dst}:${r.dport}/${transportName(r.protocol)} ${shortReason(r.reason)}`);
      // A scan raised in this window already explains the denials.
      if (scanned || s.scanRaised) s.deniedRaised = true;
      // A burst is repeated attempts: many denied packets over few targets (many targets is a scan).
      if (!s.deniedRaised && s.denied >= o.deniedBurst && s.scanPairs.size * 2 <= s.denied) {
        s.deniedRaised = true;
        out.push({
          device,
          kind: 'denied_burst',
          severity: s.denied >= 4 * o.deniedBurst ? 'high' : 'medium',
          evidence: { deniedAttempts: s.denied, deniedPackets: s.deniedPackets, distinctTargets: s.scanPairs.size, windowSeconds: o.deniedWindowMs / 1000, sample: s.deniedSample.slice() },
          at: new Date(t).toISOString(),
        });
      }
    }
  }

  /** Closes every interval that ended before `now` (call periodically so a quiet device is judged too). */
  flush(now: number, out: Anomaly[]): void {
    for (const [device, s] of this.devices) if (now >= s.bucketStart + this.options.intervalMs) this.closeIntervals(device, s, now, out);
  }

  private closeIntervals(device: string, s: DeviceState, t: number, out: Anomaly[]): void {
    const o = this.options;
    const end = s.bucketStart + o.intervalMs;
    const v = s.bucketBytes;
    const judged = end > s.firstSeen + o.learningWindowMs && s.volume.count >= o.volumeMinSamples;
    let pushed = v;
    if (judged) {
      const { median, mad } = s.volume.stats();
      const spread = Math.max(1.4826 * mad, 0.1 * median, 1);
      const score = (v - median) / spread;
      if (score > o.volumeScore && v >= o.volumeFloorBytes) {
        out.push({
          device,
          kind: 'volume',
          severity: score > 4 * o.volumeScore ? 'critical' : 'high',
          evidence: {
            bytes: v,
            packets: s.bucketPackets,
            intervalSeconds: o.intervalMs / 1000,
            intervalStart: new Date(s.bucketStart).toISOString(),
            medianBytes: median,
            madBytes: mad,
            ewmaBytes: Math.round(s.volume.ewma),
            score: Math.round(score * 10) / 10,
          },
          at: new Date(end).toISOString(),
        });
        pushed = median + o.volumeScore * spread;
      }
    }
    s.volume.push(pushed);
    // Quiet intervals since count as zero (at most a history's worth).
    const missed = Math.min(Math.floor((t - end) / o.intervalMs), o.historySize);
    for (let i = 0; i < missed; i++) s.volume.push(0);
    s.bucketStart = t - (t % o.intervalMs);
    s.bucketBytes = 0;
    s.bucketPackets = 0;
  }
}
