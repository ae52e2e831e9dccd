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
import { CappedHashSet, hash32, mix32 } from './sketch';
import { FlowRecord, shortReason, shortVerdict, transportName } from './flow-record';
import { Anomaly, DEFAULT_DETECTOR, DetectorOptions, Thresholds } from './detector-options';
import * as layout from './device-state';
import { DeviceState } from './device-state';
import { VolumeModel } from './volume';
import { decodeDeviceState, encodeDeviceState, StateLayout } from './baseline-codec';
import { count, expire, learn, markScan, push, targetsSince } from './target-ring';

// Module-scope copies: read on every flow record, they must be constants here, not loads through another module's exports.
const { SAMPLE, RING, F_PEER, F_PORT, F_LEARNED, F_SCANNED, F_WORLD, F_FAILED, FLAG_SHIFT } = layout;

export * from './detector-options';
import { addressPrefix } from './address-prefix';
export { addressPrefix };

export class AnomalyDetector {
  readonly options: DetectorOptions;
  private readonly devices = new Map<string, DeviceState>();
  private readonly distributed = new DistributedScans();
  /** Bytes per bucket, judged at several scales against their history (volume.ts). */
  private readonly vol: VolumeModel;

  constructor(opts: Partial<DetectorOptions> = {}) {
    this.options = { ...DEFAULT_DETECTOR, ...opts };
    this.vol = new VolumeModel(this.options);
  }



  get size(): number {
    return this.devices.size;
  }

  /** Forget every baseline (e.g. after changing the options). */
  reset(opts: Partial<DetectorOptions> = {}): void {
    Object.assign(this.options, opts);
    this.vol.configure();
    this.devices.clear();
    this.distributed.clear();
  }

  forget(device: string): void {
    this.devices.delete(device);
  }

  has(device: string): boolean {
    return this.devices.has(device);
  }

  /** When the device's last flow was (ms), or null when it has no state here. */
  lastSeenOf(device: string): number | null {
    return this.devices.get(device)?.lastSeen ?? null;
  }

  /** What sizes a device's state now (a stored state is loaded only into the same). */
  get layout(): StateLayout {
    const o = this.options;
    return { peerCapacity: o.peerCapacity, portCapacity: o.portCapacity, intervalMs: o.intervalMs, scaleBuckets: this.vol.scaleBuckets, trackSize: this.vol.trackSize };
  }

  /** The devices observed since the last call (each counts as written from now: markChanged() if its write fails). */
  takeChanged(): string[] {
    const out: string[] = [];
    for (const [device, s] of this.devices) {
      if (!s.changed) continue;
      s.changed = false;
      out.push(device);
    }
    return out;
  }

  /** The device's state encoded for the store (baseline-codec.ts), or null when it has none here. */
  exportState(device: string): { lastSeen: number; state: Buffer } | null {
    const s = this.devices.get(device);
    return s ? { lastSeen: s.lastSeen, state: encodeDeviceState(s, this.layout) } : null;
  }

  /** Marks devices as changed again (their write failed: the next flush takes them). */
  markChanged(devices: readonly string[]): void {
    for (const d of devices) {
      const s = this.devices.get(d);
      if (s) s.changed = true;
    }
  }

  /** The device's state from its stored bytes, replacing any here; throws BaselineStateError (and changes nothing) when they are refused. */
  restore(device: string, data: Uint8Array): void {
    const s = decodeDeviceState(data, this.layout, this.options);
    if (!this.devices.has(device) && this.devices.size >= this.options.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
    this.devices.set(device, s);
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
      volume: this.vol.describe(s, o),
    };
  }

  private state(device: string, t: number): DeviceState {
    let s = this.devices.get(device);
    if (!s) {
      if (this.devices.size >= this.options.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
      s = new DeviceState(t, this.options, this.vol.scaleBuckets.length, this.vol.trackSize);
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
    s.changed = true;
    if (t > s.lastSeen) s.lastSeen = t;
    const bytes = (r.bytesFwd || 0) + (r.bytesRev || 0);
    const worldTrack = r.dstIdentity === 1 || r.srcIdentity === 1;
    if (role !== 'src') {
      this.vol.judge(device, s, t, bytes, worldTrack, out, o, bytes);
      return;
    }

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
    // Once learnt, bytes to a target the baseline does not hold are novelty's (and a scan's) evidence,
    // not a burst: the burst sum counts the usual peers and ports only (the buckets count everything).
    this.vol.judge(device, s, t, bytes, worldTrack, out, o, (novelPeer || novelPort) && !learning ? 0 : bytes);
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
    if (r.dstName) return hash32(r.dstName, 0x2545f491);
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
    expire(s, now, o);
    // Already counted (a target tried twice): nothing new.
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if (s.ring[j * 4 + 2] === dstH && s.ring[j * 4 + 1] === portKey) return ((s.ring[j * 4 + 3] >>> FLAG_SHIFT) & F_SCANNED) !== 0;
    }
    // Was this peer or port already news in the ring (a second target of the same new peer)?
    let peerInRing = false;
    let portInRing = false;
    for (let i = 0, j = s.ringHead; i < s.ringSize; i++) {
      j = (j + RING - 1) % RING;
      if (s.ring[j * 4] === peerKey) peerInRing = true;
      if (s.ring[j * 4 + 1] === portKey) portInRing = true;
    }
    const failed = verdict === 'deny' || !((r.packetsRev ?? 0) > 0);
    let flags = (novelPeer ? F_PEER : 0) | (novelPort ? F_PORT : 0) | (r.dstIdentity === 1 ? F_WORLD : 0) | (failed ? F_FAILED : 0);
    const scanning = t < s.scanUntil;
    if (scanning) flags |= F_SCANNED;
    else if (learning && verdict !== 'deny') {
      flags |= F_LEARNED;
      learn(s, peerKey, portKey, novelPeer && r.dstIdentity === 1);
    }
    push(s, peerKey, portKey, dstH, now, flags);
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
    // Scans, fastest scale first; then, once the device has learnt (when novelty is rare), the early
    // sign of a slow one: a few failed attempts (refused or unanswered) to novel targets within the fast
    // window, all on one port (a sweep) or all to one host (a port scan).
    for (let sc = 0; sc < 4; sc++) {
      const early = sc === 3;
      if (early && (learning || !failed)) break;
      const w = sc === 0 || early ? o.scanWindowMs : sc === 1 ? o.slowScanWindowMs : o.longScanWindowMs;
      const distinct = sc === 0 ? o.scanDistinct : sc === 1 ? o.slowScanDistinct : sc === 2 ? o.longScanDistinct : o.earlyScanDistinct;
      const need = early ? F_FAILED : 0;
      // Cheap first: too few targets in the window for either kind of scan.
      if (targetsSince(s, now - Math.ceil(w / 1000), need) < distinct) continue;
      const c = count(s, now - Math.ceil(w / 1000), need);
      if (early ? !(c.destinations >= distinct && c.ports === 1) && !(c.ports >= distinct && c.destinations === 1) : c.destinations < distinct && c.targets < distinct) continue;
      const horizontal = c.destinations >= distinct;
      markScan(s, now - Math.ceil(w / 1000));
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
          ...(early ? { early: true } : {}),
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
      const d = this.distributed.observe(segment, device, mix32(dstH, portKey), t, failed, o);
      if (d) {
        for (const name of d.fresh) {
          const st = this.devices.get(name);
          if (!st) continue;
          markScan(st, Math.floor((t - st.firstSeen) / 1000) - Math.ceil(o.slowScanWindowMs / 1000));
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
    // the server by the name the device resolved (fqdn), beside its address: a new cloud name is what a reader looks for
    const base = { peer: r.dst, ...(r.dstName ? { peerName: r.dstName } : {}), protocol: transportName(r.protocol), port: r.dport, verdict };
    if (raisePeer) out.push({ device, kind: 'new_peer', severity: r.dstIdentity === 1 ? 'high' : 'medium', evidence: { ...base, baselinePeers: s.peers.size }, at: new Date(t).toISOString() });
    if (raisePort) out.push({ device, kind: 'new_port', severity: 'medium', evidence: { ...base, baselinePorts: s.ports.size }, at: new Date(t).toISOString() });
    return false;
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

  /** Closes every bucket that ended before `now` (call periodically so a quiet device is judged too). */
  flush(now: number, out: Anomaly[], thresholdsOf?: (device: string) => Thresholds): void {
    for (const [device, s] of this.devices) if (now >= s.bucketStart + this.options.intervalMs) this.vol.closeBuckets(s, now, thresholdsOf?.(device) ?? this.options);
    void out;
  }
}
