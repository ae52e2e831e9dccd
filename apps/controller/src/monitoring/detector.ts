// SPDX-License-Identifier: Apache-2.0
/**
 * Baselines and anomalies, per device, incremental and bounded in memory
 * (under 4 KB per device with its map entry, whatever its traffic; issue 18).
 *
 * Each device keeps:
 *   - the peers and (protocol, port) pairs it initiated flows to, as usage-
 *     counted sets that evict the least used member when full (never freeze).
 *     A world address counts by its prefix (/24, /48: a cloud endpoint rotating
 *     inside its provider's block is one peer), a name when the record has one;
 *     a port on which the device has learnt many peers (NTP pools) accepts any;
 *   - a ring of recent *novel* targets (peer or port not in the baseline),
 *     allowed or denied alike: scans are counted on it over three sliding
 *     windows (fast, slow, long), horizontal (distinct destinations) or
 *     vertical (distinct destination ports). A target joins the baseline only
 *     once it leaves the ring without having been part of a scan: a scan is a
 *     scan, and teaches the baseline nothing;
 *   - bytes in buckets of `intervalMs` (default 10 s) over the last 10 minutes,
 *     judged on sliding windows at several scales at once (default 10 s, 1 min,
 *     10 min) against the history of past windows of the same scale:
 *     above ratio x the 95th percentile and above median + score x MAD. The
 *     history is divided by an hour-of-day profile the device learns (day and
 *     night), and a scale shorter than the device's own period (the mean gap
 *     between its flows) is not judged, where it could only be noise. The open
 *     bucket is judged on every record, so a burst is seen when its bytes come,
 *     and anomalous windows are clipped before they join the history;
 *   - denied attempts over a short window (a burst of knocks on one door).
 * Novelty and volume are judged once the learning window is over (volume once
 * a scale also has a few windows of history, at most volumeMinSamples, fewer
 * when the learning window is short); scans and denied bursts from the first flow (distributed scans once the devices have learnt).
 */
import { DistributedScans } from './distributed-scan';
import { CappedHashSet, hash32, mix32, robustStats } from './sketch';
import { FlowRecord, shortReason, shortVerdict, transportName } from './flow-record';
import { addressPrefix, popcount } from './address-prefix';
import { Anomaly, DEFAULT_DETECTOR, DetectorOptions, Thresholds } from './detector-options';
import { DeviceState, SAMPLE, BUCKETS, HISTORY, MAX_SCALES, RING, F_PEER, F_PORT, F_LEARNED, F_SCANNED, F_WORLD, TIME_MASK, QUANTILE, M_CUR, M_HOUR, M_SEEN, M_ANOMALOUS, M_FIELDS } from './device-state';

export * from './detector-options';
export { addressPrefix } from './address-prefix';

/** What a scan counted in one window. */
interface ScanCount {
  targets: number;
  destinations: number;
  ports: number;
}

export class AnomalyDetector {
  readonly options: DetectorOptions;
  private readonly devices = new Map<string, DeviceState>();
  private readonly distributed = new DistributedScans();
  private scaleBuckets: number[] = [];
  private trackSize = 0;
  private vHist = 0;
  private vBase = 0;
  private vQ = 0;
  private vProfile = 0;
  private histAt = 0;

  constructor(opts: Partial<DetectorOptions> = {}) {
    this.options = { ...DEFAULT_DETECTOR, ...opts };
    this.configure();
  }

  private configure(): void {
    const o = this.options;
    const ws = o.volumeWindowsMs.slice(0, MAX_SCALES);
    this.scaleBuckets = ws.map((w) => Math.max(1, Math.min(BUCKETS, Math.round(w / o.intervalMs))));
    const S = this.scaleBuckets.length;
    this.vHist = BUCKETS;
    this.vBase = this.vHist + HISTORY * S;
    this.vQ = this.vBase + S;
    this.vProfile = this.vQ + S;
    this.trackSize = this.vProfile + 24;
    this.histAt = 2 * (2 * S + M_FIELDS);
  }

  get size(): number {
    return this.devices.size;
  }

  /** Forget every baseline (e.g. after changing the options). */
  reset(opts: Partial<DetectorOptions> = {}): void {
    Object.assign(this.options, opts);
    this.configure();
    this.devices.clear();
    this.distributed.clear();
  }

  forget(device: string): void {
    this.devices.delete(device);
  }

  learning(device: string, now: number, o: Thresholds = this.options): boolean | null {
    const s = this.devices.get(device);
    return s ? now < s.firstSeen + o.learningWindowMs : null;
  }

  baseline(device: string, now = Date.now(), o: Thresholds = this.options) {
    const s = this.devices.get(device);
    if (!s) return null;
    const judgedFrom = s.firstSeen + o.learningWindowMs;
    return {
      device,
      firstSeen: new Date(s.firstSeen).toISOString(),
      lastSeen: new Date(s.lastSeen).toISOString(),
      learning: now < judgedFrom,
      learningUntil: new Date(judgedFrom).toISOString(),
      peers: s.peers.size,
      peersEvicted: s.peers.evictions,
      ports: s.ports.size,
      portsEvicted: s.ports.evictions,
      novelTargets: s.ringSize,
      noveltySuppressed: s.noveltySuppressed,
      volume: {
        intervalSeconds: this.options.intervalMs / 1000,
        periodSeconds: Math.round(s.gap / 100) / 10,
        tracks: (['world', 'local'] as const).map((traffic, tr) => ({
          traffic,
          seasonalHours: popcount(s.vmeta[tr * (2 * this.scaleBuckets.length + M_FIELDS) + 2 * this.scaleBuckets.length + M_SEEN]),
          windows: this.scaleBuckets.map((k, i) => ({
            seconds: (k * this.options.intervalMs) / 1000,
            samples: s.vmeta[this.histAt + (tr * this.scaleBuckets.length + i) * 2],
            judged: this.judged(s, tr, i, s.bucketStart, o),
            thresholdBytes: Math.round(s.vol[tr * this.trackSize + this.vBase + i] * this.seasonalIndex(s, tr, s.bucketStart)),
          })),
        })),
      },
    };
  }

  private state(device: string, t: number): DeviceState {
    let s = this.devices.get(device);
    if (!s) {
      if (this.devices.size >= this.options.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
      s = new DeviceState(t, this.options, this.scaleBuckets.length, this.trackSize);
      this.devices.set(device, s);
    }
    return s;
  }

  /**
   * One flow record in which `device` is the source (`role` src: it initiated the
   * flow) or the destination. Pushes any anomaly raised into `out`. `o` carries
   * the device's segment's thresholds (the detector's own by default); with
   * `segment`, its novel targets also count towards a distributed scan.
   */
  observe(device: string, r: FlowRecord, role: 'src' | 'dst', t: number, out: Anomaly[], o: Thresholds = this.options, segment?: string): void {
    const s = this.state(device, t);
    if (t > s.lastSeen) s.lastSeen = t;
    const bytes = (r.bytesFwd || 0) + (r.bytesRev || 0);
    this.volume(device, s, t, bytes, r.dstIdentity === 1 || r.srcIdentity === 1, out, o);
    if (role !== 'src') return;

    if (t > s.lastSrc) {
      if (s.lastSrc) {
        const gap = Math.min(t - s.lastSrc, 600_000);
        s.gap = s.gap ? s.gap + 0.1 * (gap - s.gap) : gap;
      }
      s.lastSrc = t;
    }
    const learning = t < s.firstSeen + o.learningWindowMs;
    const verdict = shortVerdict(r.verdict);
    const portKey = mix32(mix32(0x9e3779b9, r.protocol), r.protocol === 6 || r.protocol === 17 ? r.dport : 0);
    const peerKey = this.peerKey(r);
    const peerSlot = s.peers.find(peerKey);
    const portSlot = s.ports.find(portKey);
    if (peerSlot >= 0) s.peers.touch(peerSlot);
    if (portSlot >= 0) s.ports.touch(portSlot);
    const world = r.dstIdentity === 1;
    const novelPeer = peerSlot < 0 && !(world && portSlot >= 0 && s.ports.aux(portSlot) >= o.diversePeers);
    const novelPort = portSlot < 0;
    let scanning = false;
    if (novelPeer || novelPort) scanning = this.novel(device, s, r, t, learning, novelPeer, novelPort, peerKey, portKey, verdict, out, o, segment);
    else if (peerSlot < 0 && learning) {
      // A new peer on a diverse port, while learning: learnt, no scan evidence.
      s.peers.add(peerKey);
    }

    if (verdict === 'deny' || verdict === 'audit') this.deniedAttempt(device, s, r, t, scanning, out, o);
  }

  /** The baseline's key of a peer: its name when the record has one, a world address's prefix, else the address. */
  private peerKey(r: FlowRecord): number {
    const name = (r as { dstName?: string }).dstName;
    if (name) return hash32(name, 0x2545f491);
    if (r.dstIdentity !== 1) return hash32(r.dst);
    return hash32(addressPrefix(r.dst, this.options.peerPrefixV4, this.options.peerPrefixV6));
  }

  /** A target not in the baseline: scan evidence, maybe new_peer / new_port. Returns whether it belongs to a scan. */
  private novel(
    device: string,
    s: DeviceState,
    r: FlowRecord,
    t: number,
    learning: boolean,
    novelPeer: boolean,
    novelPort: boolean,
    peerKey: number,
    portKey: number,
    verdict: string,
    out: Anomaly[],
    o: Thresholds,
    segment: string | undefined,
  ): boolean {
    const dstH = hash32(r.dst);
    const now = Math.floor((t - s.firstSeen) / 1000);
    this.expire(s, now, o);
    // Already counted (a target tried twice): nothing new.
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if (s.ring[j * 4 + 2] === dstH && s.ring[j * 4 + 1] === portKey) return ((s.ring[j * 4 + 3] >>> 27) & F_SCANNED) !== 0;
    }
    // Was this peer or port already news in the ring (a second target of the same new peer)?
    let peerInRing = false;
    let portInRing = false;
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if (s.ring[j * 4] === peerKey) peerInRing = true;
      if (s.ring[j * 4 + 1] === portKey) portInRing = true;
    }
    let flags = (novelPeer ? F_PEER : 0) | (novelPort ? F_PORT : 0) | (r.dstIdentity === 1 ? F_WORLD : 0);
    const scanning = t < s.scanUntil;
    if (scanning) flags |= F_SCANNED;
    else if (learning && verdict !== 'deny') {
      flags |= F_LEARNED;
      this.learn(s, peerKey, portKey, novelPeer && r.dstIdentity === 1);
    }
    this.push(s, peerKey, portKey, dstH, now, flags);
    const target = `${r.dst}:${r.dport}/${transportName(r.protocol)}`;
    const sample = (s.novelSample ??= []);
    // The first targets, and the latest.
    if (sample.length < SAMPLE) sample.push(target);
    else sample[SAMPLE - 1] = target;
    if (scanning) {
      s.scanTargets++;
      s.scanUntil = Math.max(s.scanUntil, t + s.scanWindow);
      return true;
    }
    // Scans, fastest scale first.
    for (let sc = 0; sc < 3; sc++) {
      const w = sc === 0 ? o.scanWindowMs : sc === 1 ? o.slowScanWindowMs : o.longScanWindowMs;
      const distinct = sc === 0 ? o.scanDistinct : sc === 1 ? o.slowScanDistinct : o.longScanDistinct;
      // Cheap first: too few targets in the window for either kind of scan.
      if (this.targetsSince(s, now - Math.ceil(w / 1000)) < distinct) continue;
      const c = this.count(s, now - Math.ceil(w / 1000));
      if (c.destinations < distinct && c.targets < distinct) continue;
      const horizontal = c.destinations >= distinct;
      this.markScan(s, now - Math.ceil(w / 1000));
      s.scanUntil = t + w;
      s.scanWindow = w;
      s.scanTargets = c.targets;
      // The scan explains the novelty before it: what comes after it is news again.
      s.novelty = 0;
      out.push({
        device,
        kind: 'scan',
        severity: 'high',
        evidence: {
          type: horizontal ? 'horizontal' : 'vertical',
          distinctDestinations: c.destinations,
          distinctPorts: c.ports,
          distinctTargets: c.targets,
          windowSeconds: w / 1000,
          sample: sample.slice(),
          verdict,
        },
        at: new Date(t).toISOString(),
      });
      s.novelSample = null;
      return true;
    }
    // A learning device's first contacts are its baseline forming, not a share of a segment's scan
    // (a whole site comes up together when monitoring starts).
    if (segment !== undefined && !learning) {
      const d = this.distributed.observe(segment, device, mix32(dstH, portKey), t, o.slowScanWindowMs, o.distributedScanDistinct, o.distributedScanDevices);
      if (d) {
        for (const name of d.fresh) {
          const st = this.devices.get(name);
          if (!st) continue;
          this.markScan(st, Math.floor((t - st.firstSeen) / 1000) - Math.ceil(o.slowScanWindowMs / 1000));
          st.scanUntil = t + o.slowScanWindowMs;
          st.scanWindow = o.slowScanWindowMs;
          out.push({
            device: name,
            kind: 'scan',
            severity: 'high',
            evidence: { type: 'distributed', segment, devices: d.devices, distinctTargets: d.distinctTargets, windowSeconds: d.windowSeconds, sample: (st.novelSample ?? []).slice(), verdict },
            at: new Date(t).toISOString(),
          });
        }
        if (t < s.scanUntil) return true;
      }
    }
    if (learning) return false;
    if (t >= s.noveltyUntil) {
      s.novelty = 0;
      s.noveltyUntil = t + o.incidentWindowMs;
    }
    if (s.novelty >= o.noveltyPerIncident) {
      s.noveltySuppressed++;
      return false;
    }
    const raisePeer = novelPeer && !peerInRing;
    const raisePort = novelPort && !portInRing;
    if (!raisePeer && !raisePort) return false;
    s.novelty++;
    const base = { peer: r.dst, protocol: transportName(r.protocol), port: r.dport, verdict };
    if (raisePeer) out.push({ device, kind: 'new_peer', severity: r.dstIdentity === 1 ? 'high' : 'medium', evidence: { ...base, baselinePeers: s.peers.size }, at: new Date(t).toISOString() });
    if (raisePort) out.push({ device, kind: 'new_port', severity: 'medium', evidence: { ...base, baselinePorts: s.ports.size }, at: new Date(t).toISOString() });
    return false;
  }

  /** Into the baseline; `newWorldPeer` counts one more world peer learnt on the port. */
  private learn(s: DeviceState, peerKey: number, portKey: number, newWorldPeer: boolean): void {
    s.peers.add(peerKey);
    const slot = s.ports.add(portKey);
    if (newWorldPeer) s.ports.bumpAux(slot);
  }

  private push(s: DeviceState, peerKey: number, portKey: number, dstH: number, now: number, flags: number): void {
    if (s.ringSize === RING) this.retire(s, s.ringHead); // full: the oldest sits where the next is written
    const j = s.ringHead;
    s.ring[j * 4] = peerKey;
    s.ring[j * 4 + 1] = portKey;
    s.ring[j * 4 + 2] = dstH;
    s.ring[j * 4 + 3] = (now & TIME_MASK) | (flags << 27);
    s.ringHead = (j + 1) % RING;
    if (s.ringSize < RING) s.ringSize++;
  }

  /** The oldest entry leaves the ring: a target that was no scan joins the baseline now. */
  private retire(s: DeviceState, j: number): void {
    const f = (s.ring[j * 4 + 3] >>> 27);
    if (!(f & (F_SCANNED | F_LEARNED))) this.learn(s, s.ring[j * 4], s.ring[j * 4 + 1], (f & F_PEER) !== 0 && (f & F_WORLD) !== 0);
    // The sample shows the targets of what is in the ring now.
    if (--s.ringSize === 0) s.novelSample = null;
  }

  /** Entries older than the longest scan window leave the ring. */
  private expire(s: DeviceState, now: number, o: Thresholds): void {
    const horizon = Math.ceil(Math.max(o.scanWindowMs, o.slowScanWindowMs, o.longScanWindowMs) / 1000);
    while (s.ringSize > 0) {
      const oldest = (s.ringHead + RING - s.ringSize) % RING;
      if (now - (s.ring[oldest * 4 + 3] & TIME_MASK) <= horizon) break;
      this.retire(s, oldest);
    }
  }

  private targetsSince(s: DeviceState, from: number): number {
    let n = 0;
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if ((s.ring[j * 4 + 3] & TIME_MASK) < from) break;
      if (!((s.ring[j * 4 + 3] >>> 27) & F_SCANNED)) n++;
    }
    return n;
  }

  /** Distinct targets, destinations and ports among the ring's entries since `from`. */
  private count(s: DeviceState, from: number): ScanCount {
    let targets = 0;
    let destinations = 0;
    let ports = 0;
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if ((s.ring[j * 4 + 3] & TIME_MASK) < from) break;
      // What a scan already reported is not evidence of another.
      if ((s.ring[j * 4 + 3] >>> 27) & F_SCANNED) continue;
      targets++;
      let dupDst = false;
      let dupPort = false;
      for (let k = (j + 1) % RING; k !== s.ringHead && !(dupDst && dupPort); k = (k + 1) % RING) {
        if ((s.ring[k * 4 + 3] >>> 27) & F_SCANNED) continue;
        if (s.ring[k * 4 + 2] === s.ring[j * 4 + 2]) dupDst = true;
        if (s.ring[k * 4 + 1] === s.ring[j * 4 + 1]) dupPort = true;
      }
      if (!dupDst) destinations++;
      if (!dupPort) ports++;
    }
    return { targets, destinations, ports };
  }

  /** Marks the ring's entries since `from` as a scan; what they taught the baseline while learning is taken back. */
  private markScan(s: DeviceState, from: number): void {
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if ((s.ring[j * 4 + 3] & TIME_MASK) < from) break;
      const f = s.ring[j * 4 + 3] >>> 27;
      if (f & F_LEARNED) {
        if (f & F_PEER) s.peers.delete(s.ring[j * 4]);
        if (f & F_PORT) s.ports.delete(s.ring[j * 4 + 1]);
      }
      s.ring[j * 4 + 3] = (s.ring[j * 4 + 3] & TIME_MASK) | (((f & ~F_LEARNED) | F_SCANNED) << 27);
    }
  }

  private deniedAttempt(device: string, s: DeviceState, r: FlowRecord, t: number, scanning: boolean, out: Anomaly[], o: Thresholds): void {
    if (t >= s.deniedStart + o.deniedWindowMs) {
      s.deniedStart = t;
      s.denied = 0;
      s.deniedPackets = 0;
      s.deniedTargets?.clear();
      s.deniedSample = null;
      s.deniedRaised = false;
    }
    // Attempts are flow records (a new connection attempt is a new source port, a new record).
    s.denied++;
    s.deniedPackets += Math.max(1, r.packetsFwd || 0);
    (s.deniedTargets ??= new CappedHashSet(16)).add(mix32(hash32(r.dst), r.dport));
    const sample = (s.deniedSample ??= []);
    if (sample.length < SAMPLE) sample.push(`${r.dst}:${r.dport}/${transportName(r.protocol)} ${shortReason(r.reason)}`);
    // A scan explains the denials it made.
    if (scanning || t < s.scanUntil) s.deniedRaised = true;
    // A burst is repeated attempts: many denied packets over few targets (many targets is a scan).
    if (!s.deniedRaised && s.denied >= o.deniedBurst && s.deniedTargets.size * 2 <= s.denied) {
      s.deniedRaised = true;
      out.push({
        device,
        kind: 'denied_burst',
        severity: s.denied >= 4 * o.deniedBurst ? 'high' : 'medium',
        evidence: { deniedAttempts: s.denied, deniedPackets: s.deniedPackets, distinctTargets: s.deniedTargets.size, windowSeconds: o.deniedWindowMs / 1000, sample: sample.slice() },
        at: new Date(t).toISOString(),
      });
    }
  }

  // ---- volume ---------------------------------------------------------------
  // Two tracks per device: bytes exchanged with the world (track 0) and with local
  // peers (track 1), so a burst to the cloud is not hidden by a camera's local stream.

  private volume(device: string, s: DeviceState, t: number, bytes: number, world: boolean, out: Anomaly[], o: Thresholds): void {
    const io = this.options;
    if (t >= s.bucketStart + io.intervalMs) this.closeBuckets(s, t, o);
    if (bytes === 0) return;
    const tr = world ? 0 : 1;
    const S = this.scaleBuckets.length;
    const m = tr * (2 * S + M_FIELDS);
    s.vmeta[m + 2 * S + M_CUR] += bytes;
    s.vmeta[m + 2 * S + M_HOUR] += bytes;
    const cur = s.vmeta[m + 2 * S + M_CUR];
    const k = this.scaleBuckets;
    const v = tr * this.trackSize;
    let index = -1;
    for (let i = 0; i < S; i++) {
      const base = s.vol[v + this.vBase + i];
      if (base <= 0 || t < s.vmeta[m + i]) continue;
      if (index < 0) index = this.seasonalIndex(s, tr, t);
      const threshold = base * index;
      const sum = s.vmeta[m + S + i] + cur;
      if (sum <= threshold || sum < o.volumeFloorBytes) continue;
      const windowMs = k[i] * io.intervalMs;
      const usual = s.vol[v + this.vQ + i] * index;
      // One anomaly per burst: every scale of the track is quiet until the longest window has let it go.
      const quietUntil = s.bucketStart + io.intervalMs + k[S - 1] * io.intervalMs;
      for (let j = 0; j < S; j++) s.vmeta[m + j] = Math.max(s.vmeta[m + j], quietUntil);
      s.vmeta[m + 2 * S + M_ANOMALOUS] = 1;
      const ratio = usual > 0 ? sum / usual : Infinity;
      out.push({
        device,
        kind: 'volume',
        severity: ratio > 4 * o.volumeRatios[Math.min(i, o.volumeRatios.length - 1)] ? 'critical' : 'high',
        evidence: {
          traffic: world ? 'world' : 'local',
          bytes: Math.round(sum),
          windowSeconds: windowMs / 1000,
          windowStart: new Date(s.bucketStart - (k[i] - 1) * io.intervalMs).toISOString(),
          usualBytes: Math.round(usual),
          thresholdBytes: Math.round(threshold),
          ratio: Number.isFinite(ratio) ? Math.round(ratio * 10) / 10 : null,
          seasonalIndex: Math.round(index * 100) / 100,
          periodSeconds: Math.round(s.gap / 100) / 10,
        },
        at: new Date(t).toISOString(),
      });
      return;
    }
  }

  /** Sum of the last `n` closed buckets of a track. */
  private windowSum(s: DeviceState, tr: number, n: number): number {
    const v = tr * this.trackSize;
    let sum = 0;
    for (let i = 1; i <= n; i++) sum += s.vol[v + ((s.recentHead + BUCKETS - i) % BUCKETS)];
    return sum;
  }

  /** Closes every bucket that ended before `now` (call periodically so a quiet device is judged too). */
  flush(now: number, out: Anomaly[], thresholdsOf?: (device: string) => Thresholds): void {
    for (const [device, s] of this.devices) if (now >= s.bucketStart + this.options.intervalMs) this.closeBuckets(s, now, thresholdsOf?.(device) ?? this.options);
    void out;
  }

  private closeBuckets(s: DeviceState, t: number, o: Thresholds): void {
    const io = this.options;
    const S = this.scaleBuckets.length;
    const n = Math.floor((t - s.bucketStart) / io.intervalMs);
    const steps = Math.min(n, BUCKETS + 1);
    let changed = 0;
    for (let step = 0; step < steps; step++) {
      const end = s.bucketStart + (step + 1) * io.intervalMs;
      const head = (s.recentHead + 1) % BUCKETS;
      for (let tr = 0; tr < 2; tr++) {
        const m = tr * (2 * S + M_FIELDS);
        const v = tr * this.trackSize;
        const x = step === 0 ? s.vmeta[m + 2 * S + M_CUR] : 0;
        s.vol[v + s.recentHead] = x;
        // Each scale's sum of its closed buckets: the new one in, the k-th most recent out.
        for (let i = 0; i < S; i++) {
          const k = this.scaleBuckets[i];
          if (k > 1) s.vmeta[m + S + i] += x - s.vol[v + ((head + BUCKETS - k) % BUCKETS)];
        }
      }
      s.recentHead = head;
      s.bucketIndex++;
      for (let i = 0; i < S; i++) {
        const k = this.scaleBuckets[i];
        if (s.bucketIndex % k !== 0) continue;
        for (let tr = 0; tr < 2; tr++) {
          const v = tr * this.trackSize;
          const m = tr * (2 * S + M_FIELDS);
          let x = this.windowSum(s, tr, k) / this.seasonalIndex(s, tr, end - 1);
          const hm = (tr * S + i) * 2;
          // An anomalous window joins the history clipped to what was usual.
          if (s.vmeta[m + i] > end - k * io.intervalMs && s.vmeta[this.histAt + hm] > 0) x = Math.min(x, s.vol[v + this.vQ + i]);
          const c = s.vmeta[this.histAt + hm];
          const next = s.vmeta[this.histAt + hm + 1];
          s.vol[v + this.vHist + i * HISTORY + next] = x;
          s.vmeta[this.histAt + hm + 1] = (next + 1) % HISTORY;
          if (c < HISTORY) s.vmeta[this.histAt + hm] = c + 1;
        }
        // The 95th percentile of 24 windows moves slowly: short scales recompute it once a minute of buckets.
        if ((s.bucketIndex / k) % Math.max(1, Math.ceil(6 / k)) === 0) changed |= 1 << i;
      }
      if (end >= s.hourStart + 3600_000) this.closeHour(s, end);
    }
    if (n > steps) s.hourStart = t - (t % 3600_000);
    s.bucketStart += n * io.intervalMs;
    s.bucketIndex = Math.floor(s.bucketStart / io.intervalMs);
    for (let tr = 0; tr < 2; tr++) {
      const m = tr * (2 * S + M_FIELDS);
      s.vmeta[m + 2 * S + M_CUR] = 0;
      // Now and then from scratch, so rounding never accumulates.
      if (s.bucketIndex % BUCKETS === 0 || n > 1) for (let i = 0; i < S; i++) s.vmeta[m + S + i] = this.windowSum(s, tr, this.scaleBuckets[i] - 1);
    }
    for (let i = 0; i < S; i++) for (let tr = 0; tr < 2; tr++) if (changed & (1 << i) || s.vol[tr * this.trackSize + this.vBase + i] === 0) this.threshold(s, tr, i, o);
  }

  /** Whether scale i of a track is judged now: past learning, enough history, and not shorter than the device's period. */
  private judged(s: DeviceState, tr: number, i: number, t: number, o: Thresholds): boolean {
    const w = this.scaleBuckets[i] * this.options.intervalMs;
    if (t < s.firstSeen + o.learningWindowMs) return false;
    const need = Math.max(3, Math.min(this.options.volumeMinSamples, Math.floor(o.learningWindowMs / w)));
    if (s.vmeta[this.histAt + (tr * this.scaleBuckets.length + i) * 2] < need) return false;
    return s.gap === 0 || s.gap <= w;
  }

  private threshold(s: DeviceState, tr: number, i: number, o: Thresholds): void {
    const v = tr * this.trackSize;
    const count = s.vmeta[this.histAt + (tr * this.scaleBuckets.length + i) * 2];
    if (count === 0) {
      s.vol[v + this.vBase + i] = 0;
      return;
    }
    let any = false;
    for (let j = 0; j < count && !any; j++) any = s.vol[v + this.vHist + i * HISTORY + j] > 0;
    if (!any) {
      s.vol[v + this.vBase + i] = 0;
      s.vol[v + this.vQ + i] = 0;
      return;
    }
    const st = robustStats(s.vol, v + this.vHist + i * HISTORY, count, QUANTILE);
    const { median, mad } = st;
    // Sparse traffic (mostly empty windows): the largest window is the usual one.
    const quantile = st.quantile > 0 ? st.quantile : st.max;
    s.vol[v + this.vQ + i] = quantile;
    // A track that never carried anything is novelty's business, not volume's.
    if (quantile === 0 || !this.judged(s, tr, i, s.bucketStart, o)) {
      s.vol[v + this.vBase + i] = 0;
      return;
    }
    const ratio = o.volumeRatios[Math.min(i, o.volumeRatios.length - 1)];
    s.vol[v + this.vBase + i] = Math.max(ratio * quantile, median + o.volumeScore * Math.max(1.4826 * mad, 0.1 * median), 1);
  }

  /** The track's load at this hour of day against its mean over the hours it has learnt (1 until it has). */
  private seasonalIndex(s: DeviceState, tr: number, t: number): number {
    const seen = s.vmeta[tr * (2 * this.scaleBuckets.length + M_FIELDS) + 2 * this.scaleBuckets.length + M_SEEN];
    if (seen === 0) return 1;
    let h = Math.floor(t / 3600_000) % 24;
    // An hour not learnt yet (the partial first one) takes its nearest learnt neighbour's load.
    for (let d = 1; d < 12 && !(seen & (1 << h)); d++) {
      const before = (h + 24 - d) % 24;
      const after = (h + d) % 24;
      if (seen & (1 << before)) h = before;
      else if (seen & (1 << after)) h = after;
    }
    if (!(seen & (1 << h))) return 1;
    const p = tr * this.trackSize + this.vProfile;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < 24; i++) {
      if (seen & (1 << i)) {
        sum += s.vol[p + i];
        n++;
      }
    }
    const mean = sum / n;
    if (mean <= 0) return 1;
    return Math.max(0.1, Math.min(10, s.vol[p + h] / mean));
  }

  private closeHour(s: DeviceState, end: number): void {
    const h = Math.floor(s.hourStart / 3600_000) % 24;
    const S = this.scaleBuckets.length;
    for (let tr = 0; tr < 2; tr++) {
      const m = tr * (2 * S + M_FIELDS) + 2 * S;
      // A partial first hour says nothing of the hour's load.
      if (s.hourStart >= s.firstSeen) {
        const p = tr * this.trackSize + this.vProfile + h;
        const seenMask = s.vmeta[m + M_SEEN];
        const seen = (seenMask & (1 << h)) !== 0;
        const old = s.vol[p];
        const bytes = s.vmeta[m + M_HOUR];
        const x = seen && s.vmeta[m + M_ANOMALOUS] ? Math.min(bytes, 1.5 * old) : bytes;
        s.vol[p] = seen ? old + 0.3 * (x - old) : x;
        s.vmeta[m + M_SEEN] = seenMask | (1 << h);
      }
      s.vmeta[m + M_HOUR] = 0;
      s.vmeta[m + M_ANOMALOUS] = 0;
    }
    s.hourStart = end - (end % 3600_000);
  }
}
