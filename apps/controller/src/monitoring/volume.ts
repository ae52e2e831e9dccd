// SPDX-License-Identifier: Apache-2.0
/**
 * The detector's volume model (detector.ts describes it): bytes per bucket of
 * `intervalMs`, judged on sliding windows at several scales against their
 * history, divided by an hour-of-day profile the device learns. The layout
 * offsets in a DeviceState's arrays depend on the number of scales.
 */
import type { Anomaly, DetectorOptions, Thresholds } from './detector-options';
import * as layout from './device-state';
import { DeviceState, popcount } from './device-state';
import { robustStats } from './sketch';

// Module-scope copies: read on every flow record, they must be constants here, not loads through another module's exports.
const { BUCKETS, HISTORY, MAX_SCALES, QUANTILE, M_CUR, M_HOUR, M_SEEN, M_ANOMALOUS, M_BURST_AT, M_BURST_SINCE, M_FIELDS } = layout;
/** The burst sum drains at this many times the track's usual rate, and at least one learnt peak a minute. */
const DRAIN = 2;
const DRAIN_PEAK_MS = 60_000;
/** A learnt burst peak forgets this share of itself per hour (so it follows a device that quietens). */
const PEAK_DECAY = 0.995;

export class VolumeModel {
  scaleBuckets: number[] = [];
  trackSize = 0;
  vHist = 0;
  vBase = 0;
  vQ = 0;
  vProfile = 0;
  vBurst = 0;
  histAt = 0;

  /** `options` is the detector's own object: reset() changes it in place, then calls configure(). */
  constructor(private readonly options: DetectorOptions) {
    this.configure();
  }

  configure(): void {
    const o = this.options;
    const ws = o.volumeWindowsMs.slice(0, MAX_SCALES);
    this.scaleBuckets = ws.map((w) => Math.max(1, Math.min(BUCKETS, Math.round(w / o.intervalMs))));
    const S = this.scaleBuckets.length;
    this.vHist = BUCKETS;
    this.vBase = this.vHist + HISTORY * S;
    this.vQ = this.vBase + S;
    this.vProfile = this.vQ + S;
    this.vBurst = this.vProfile + 24;
    this.trackSize = this.vBurst + 3;
    this.histAt = 2 * (2 * S + M_FIELDS);
  }
  // ---- volume ---------------------------------------------------------------
  // Two tracks per device: bytes exchanged with the world (track 0) and with local
  // peers (track 1), so a burst to the cloud is not hidden by a camera's local stream.

  /** `burstBytes`: what of `bytes` the burst sum counts (burst()). */
  judge(device: string, s: DeviceState, t: number, bytes: number, world: boolean, out: Anomaly[], o: Thresholds, burstBytes = bytes): void {
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
    const index = this.seasonalIndex(s, tr, t);
    if (this.burst(device, s, tr, t, burstBytes, index, world, out, o)) return;
    for (let i = 0; i < S; i++) {
      const base = s.vol[v + this.vBase + i];
      if (base <= 0 || t < s.vmeta[m + i]) continue;
      const threshold = base * index;
      const sum = s.vmeta[m + S + i] + cur;
      if (sum <= threshold || sum < o.volumeFloorBytes) continue;
      const windowMs = k[i] * io.intervalMs;
      const usual = s.vol[v + this.vQ + i] * index;
      this.quiet(s, m);
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

  /** One anomaly per burst: every scale of the track is quiet until the longest window has let it go. */
  private quiet(s: DeviceState, m: number): void {
    const S = this.scaleBuckets.length;
    const quietUntil = s.bucketStart + this.options.intervalMs + this.scaleBuckets[S - 1] * this.options.intervalMs;
    for (let j = 0; j < S; j++) s.vmeta[m + j] = Math.max(s.vmeta[m + j], quietUntil);
    s.vmeta[m + 2 * S + M_ANOMALOUS] = 1;
  }

  /**
   * Bursts, judged on every record, whatever the bucket: a CUSUM of the track's
   * bytes, S = max(0, S - drain x dt) + bytes, draining at twice the usual rate
   * (the longest window's, or the hour of day's, whichever is higher). On
   * periodic traffic it peaks at about one period's largest flow and falls back
   * to zero before the next; a burst at N times the usual rate grows it by
   * N - 2 usual rates a second, so it crosses burstRatio x its learnt peak (the
   * largest sum seen on normal traffic, season-adjusted) within seconds.
   * Returns whether it raised an anomaly.
   */
  private burst(device: string, s: DeviceState, tr: number, t: number, bytes: number, hourIndex: number, world: boolean, out: Anomaly[], o: Thresholds): boolean {
    const S = this.scaleBuckets.length;
    const m = tr * (2 * S + M_FIELDS);
    // The peak is one flow's size more than an hour's load: it is scaled by the hour of day only once
    // that very hour is learnt (a neighbour's load, or a partial hour's, says little of a flow's size).
    const index = s.vmeta[m + 2 * S + M_SEEN] & (1 << Math.floor(t / 3600_000) % 24) ? hourIndex : 1;
    const v = tr * this.trackSize;
    const io = this.options;
    const peak = s.vol[v + this.vBurst + 1];
    const dt = t - s.vmeta[m + 2 * S + M_BURST_AT];
    let sum = s.vol[v + this.vBurst];
    const kl = this.scaleBuckets[S - 1];
    // The longest window's closed buckets, over what of it the device has lived (a young device's rate is no zero).
    const span = Math.min((kl - 1) * io.intervalMs, s.bucketStart - s.firstSeen);
    let rate = kl > 1 && span > 0 ? s.vmeta[m + S + S - 1] / span : 0;
    // ... or the hour of day's usual rate (its learnt load, or the nearest learnt hour's), if higher.
    if (this.profileMean > 0) rate = Math.max(rate, (this.profileMean * hourIndex) / 3600_000);
    const drain = Math.max(DRAIN * rate, (peak * index) / DRAIN_PEAK_MS);
    if (dt > 0) {
      s.vmeta[m + 2 * S + M_BURST_AT] = t;
      sum = Math.max(0, sum - drain * dt);
    }
    if (sum === 0) s.vmeta[m + 2 * S + M_BURST_SINCE] = t;
    sum += bytes;
    const quiet = t < s.vmeta[m];
    const x = sum / index;
    if (t < s.firstSeen + o.learningWindowMs) {
      s.vol[v + this.vBurst] = sum;
      // Learning, each hour is new: the nearest learnt hour's load is the best guess there is. Before a
      // bucket has closed the usual rate is unknown and the sum does not drain: it is no peak of anything
      // (a learning window shorter than a bucket leaves the peak to the first hour without anomaly).
      if (!quiet && (span > 0 || this.profileMean > 0) && sum / hourIndex > peak) s.vol[v + this.vBurst + 1] = sum / hourIndex;
      return false;
    }
    const threshold = Math.max(o.burstRatio * peak * index, o.burstFloorBytes);
    // Judged, the peak moves only when an hour closes without anomaly (closeHour): a burst rising
    // towards the threshold does not drag it along. A track that carried nothing while the device
    // learnt is judged from its first such hour.
    if (quiet || peak === 0 || sum <= threshold) {
      s.vol[v + this.vBurst] = sum;
      if (!quiet && x > s.vol[v + this.vBurst + 2]) s.vol[v + this.vBurst + 2] = x;
      return false;
    }
    const since = s.vmeta[m + 2 * S + M_BURST_SINCE];
    // Raised once; the sum starts again (the windows stay quiet while this burst lasts).
    s.vol[v + this.vBurst] = 0;
    this.quiet(s, m);
    const usual = peak * index;
    const ratio = sum / usual;
    out.push({
      device,
      kind: 'volume',
      severity: ratio > 4 * o.burstRatio ? 'critical' : 'high',
      evidence: {
        traffic: world ? 'world' : 'local',
        detector: 'burst',
        bytes: Math.round(sum),
        windowSeconds: Math.round((t - since) / 100) / 10,
        windowStart: new Date(since).toISOString(),
        usualBytes: Math.round(usual),
        thresholdBytes: Math.round(threshold),
        ratio: Math.round(ratio * 10) / 10,
        drainBytesPerSecond: Math.round(drain * 1000),
        seasonalIndex: Math.round(index * 100) / 100,
        periodSeconds: Math.round(s.gap / 100) / 10,
      },
      at: new Date(t).toISOString(),
    });
    return true;
  }

  /** Sum of the last `n` closed buckets of a track. */
  private windowSum(s: DeviceState, tr: number, n: number): number {
    const v = tr * this.trackSize;
    let sum = 0;
    for (let i = 1; i <= n; i++) sum += s.vol[v + ((s.recentHead + BUCKETS - i) % BUCKETS)];
    return sum;
  }

  closeBuckets(s: DeviceState, t: number, o: Thresholds): void {
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
  judged(s: DeviceState, tr: number, i: number, t: number, o: Thresholds): boolean {
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

  /** The mean bytes per hour over the learnt hours that the last seasonalIndex() saw (0 when none). */
  private profileMean = 0;

  /** The track's load at this hour of day against its mean over the hours it has learnt (1 until it has). */
  seasonalIndex(s: DeviceState, tr: number, t: number): number {
    this.profileMean = 0;
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
    this.profileMean = mean;
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
      const b = tr * this.trackSize + this.vBurst;
      s.vol[b + 1] = Math.max(s.vol[b + 1] * PEAK_DECAY, s.vmeta[m + M_ANOMALOUS] ? 0 : s.vol[b + 2]);
      s.vol[b + 2] = 0;
      s.vmeta[m + M_HOUR] = 0;
      s.vmeta[m + M_ANOMALOUS] = 0;
    }
    s.hourStart = end - (end % 3600_000);
  }

  /** What the volume model has learnt of a device (GET /v1/baselines). */
  describe(s: DeviceState, o: Thresholds) {
    return {
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
    };
  }
}
