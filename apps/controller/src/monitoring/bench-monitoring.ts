// SPDX-License-Identifier: Apache-2.0
/**
 * Monitoring benchmark, called by `npm run bench` (issue 18): a replay that is
 * not easy, through the anomaly pipeline as MonitoringService calls it
 * (AnomalyDetector.observe per record with the device's segment, flush every
 * tick, anomalies grouped into incidents).
 *
 * The site: devices generated from IoT profiles (sensor, plug, camera, hub),
 * each with periodic flows (MQTT keep-alive and telemetry to a local broker,
 * TLS to its vendor's cloud whose address rotates inside the provider's /24,
 * NTP to a pool of world addresses, DNS to the local resolver, a camera's
 * stream to its recorder), every period and size jittered ±30 %, bytes
 * following a day/night load; seeded, so every run replays the same traffic.
 * Three days: the first is the learning window (so the day/night profile is
 * learnt), the next two are judged. Labelled misbehaviour, one device each
 * (distributed scans: several devices of one segment), spread over the two
 * judged days: fast horizontal scan, vertical scan in audit mode, slow scan
 * (30 addresses over 40 s), distributed scan (4 devices x 8 addresses over a
 * minute), 20x burst for 30 s, ramp to 5x over a minute, exfiltration at 3x for
 * ten minutes, a new peer contacted three times, a denied burst.
 *
 * Printed: per kind, recall (the expected anomaly kind raised for the device
 * within the attack and one incident window after it), detection delay p50 and
 * max (to the expected kind, and to the first anomaly of the incident), and
 * precision (anomalies and incidents outside every labelled attack are false);
 * false positives per device-day on the same site replayed clean; memory per
 * device; throughput on one core.
 */
import { Anomaly, AnomalyDetector, AnomalyKind } from './detector';
import type { FlowRecord } from './flow-record';
import { Incidents } from './incidents';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 5);

function lcg(seed: number) {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

interface Flow {
  dst: () => string;
  dport: number;
  protocol: number;
  world: boolean;
  periodMs: number;
  bytes: number;
  /** Follows the day/night load. */
  diurnal: boolean;
  next: number;
}
interface Device {
  name: string;
  addr: string;
  segment: string;
  flows: Flow[];
  /** Its usual cloud flow (bursts and exfiltration go there). */
  cloud: Flow;
}

/** Day/night: 0.4 at 03:00 UTC, 1.0 at 15:00, smooth. */
const load = (t: number) => 0.7 - 0.3 * Math.cos((2 * Math.PI * ((t % DAY) / DAY - 0.125)));

function makeSite(n: number, rnd: () => number): Device[] {
  const out: Device[] = [];
  const jitter = (x: number) => x * (0.7 + 0.6 * rnd());
  for (let i = 0; i < n; i++) {
    const seg = `seg-${i % 6}`;
    const addr = `10.${20 + (i % 6)}.${i >> 8}.${(i & 255) + 1}`;
    const provider = `52.${94 + (i % 3)}.${(i * 7) % 200}`;
    const cloud: Flow = { dst: () => `${provider}.${1 + Math.floor(rnd() * 250)}`, dport: 443, protocol: 6, world: true, periodMs: 0, bytes: 0, diurnal: true, next: 0 };
    const flows: Flow[] = [];
    const kind = i % 4;
    if (kind === 0) {
      // sensor: MQTT telemetry every 10 s, keep-alive every 30 s, cloud sync every 60 s
      flows.push({ dst: () => '10.9.0.1', dport: 8883, protocol: 6, world: false, periodMs: 10_000, bytes: jitter(1500), diurnal: true, next: 0 });
      flows.push({ dst: () => '10.9.0.1', dport: 8883, protocol: 6, world: false, periodMs: 30_000, bytes: 200, diurnal: false, next: 0 });
      Object.assign(cloud, { periodMs: 60_000, bytes: jitter(6000) });
    } else if (kind === 1) {
      // smart plug: cloud heartbeat every 20 s, state every 5 min
      Object.assign(cloud, { periodMs: 20_000, bytes: jitter(1200) });
      flows.push({ dst: () => '10.9.0.1', dport: 1883, protocol: 6, world: false, periodMs: 300_000, bytes: 800, diurnal: false, next: 0 });
    } else if (kind === 2) {
      // camera: stream to the recorder (a record every 10 s), cloud snapshots every 60 s
      flows.push({ dst: () => '10.9.0.20', dport: 554, protocol: 6, world: false, periodMs: 10_000, bytes: jitter(150_000), diurnal: true, next: 0 });
      Object.assign(cloud, { periodMs: 60_000, bytes: jitter(40_000) });
    } else {
      // hub: CoAP to local devices every 15 s, cloud every 30 s
      flows.push({ dst: () => `10.${20 + (i % 6)}.0.${200 + Math.floor(rnd() * 4)}`, dport: 5683, protocol: 17, world: false, periodMs: 15_000, bytes: jitter(600), diurnal: false, next: 0 });
      Object.assign(cloud, { periodMs: 30_000, bytes: jitter(3000) });
    }
    flows.push(cloud);
    flows.push({ dst: () => `${[162, 185, 193, 212][Math.floor(rnd() * 4)]}.${Math.floor(rnd() * 250)}.${Math.floor(rnd() * 250)}.${1 + Math.floor(rnd() * 250)}`, dport: 123, protocol: 17, world: true, periodMs: 1024_000, bytes: 180, diurnal: false, next: 0 });
    flows.push({ dst: () => '10.9.0.53', dport: 53, protocol: 17, world: false, periodMs: 120_000, bytes: 250, diurnal: false, next: 0 });
    for (const f of flows) f.next = T0 + Math.floor(rnd() * f.periodMs);
    out.push({ name: `dev-${i}`, addr, segment: seg, flows, cloud });
  }
  return out;
}

const rec = (d: Device, dst: string, dport: number, protocol: number, world: boolean, bytes: number, verdict = 'VERDICT_ALLOW', t = 0): FlowRecord => ({
  src: d.addr,
  dst,
  sport: 40000,
  dport,
  protocol,
  srcIdentity: 300,
  dstIdentity: world ? 1 : 301,
  verdict,
  packetsFwd: Math.max(1, Math.round(bytes / 600)),
  bytesFwd: Math.round(bytes * 0.7),
  packetsRev: Math.max(1, Math.round(bytes / 1200)),
  bytesRev: Math.round(bytes * 0.3),
  lastSeen: t,
});

const ATTACKS = ['fast_scan', 'vertical_scan', 'slow_scan', 'distributed_scan', 'burst', 'ramp', 'exfiltration', 'new_peer_3x', 'denied_burst'] as const;
type AttackKind = (typeof ATTACKS)[number];
const EXPECTS: Record<AttackKind, AnomalyKind> = {
  fast_scan: 'scan',
  vertical_scan: 'scan',
  slow_scan: 'scan',
  distributed_scan: 'scan',
  burst: 'volume',
  ramp: 'volume',
  exfiltration: 'volume',
  new_peer_3x: 'new_peer',
  denied_burst: 'denied_burst',
};
interface Attack {
  kind: AttackKind;
  devices: Device[];
  start: number;
  end: number;
}
interface Timed {
  t: number;
  d: Device;
  r: FlowRecord;
}

/** The records of one attack (besides the device's normal traffic, which goes on). */
function attackRecords(a: Attack, rnd: () => number, out: Timed[]): void {
  const d = a.devices[0];
  const push = (dev: Device, t: number, r: FlowRecord) => out.push({ t, d: dev, r: { ...r, lastSeen: t } });
  const net = 150 + Math.floor(rnd() * 50);
  switch (a.kind) {
    case 'fast_scan':
      for (let k = 0; k < 60; k++) push(d, a.start + k * 50, rec(d, `10.${net}.0.${k + 1}`, 22, 6, false, 60, 'VERDICT_DENY'));
      break;
    case 'vertical_scan':
      for (let k = 0; k < 100; k++) push(d, a.start + k * 50, rec(d, '10.9.0.1', 20 + k * 7, 6, false, 60, 'VERDICT_AUDIT'));
      break;
    case 'slow_scan':
      for (let k = 0; k < 30; k++) push(d, a.start + Math.round((k * 40_000) / 30), rec(d, `10.${net}.1.${k + 1}`, 23, 6, false, 60, 'VERDICT_DENY'));
      break;
    case 'distributed_scan':
      a.devices.forEach((dev, j) => {
        for (let k = 0; k < 8; k++) push(dev, a.start + j * 1500 + k * 7_000, rec(dev, `10.${net}.2.${j * 8 + k + 1}`, 445, 6, false, 60, 'VERDICT_DENY'));
      });
      break;
    case 'burst':
    case 'ramp':
    case 'exfiltration': {
      const rate = (d.cloud.bytes / d.cloud.periodMs) * 1000 * load(a.start); // usual bytes per second
      const dst = d.cloud.dst();
      for (let t = a.start; t < a.end; t += 1000) {
        const dt = t - a.start;
        const f = a.kind === 'burst' ? 20 : a.kind === 'exfiltration' ? 3 : dt < 60_000 ? 1 + (4 * dt) / 60_000 : 5;
        // the extra bytes over the usual rate (the usual traffic goes on beside them)
        push(d, t, rec(d, dst, 443, 6, true, rate * (f - 1)));
      }
      break;
    }
    case 'new_peer_3x':
      for (let k = 0; k < 3; k++) push(d, a.start + k * 40_000, rec(d, `203.0.${113 + Math.floor(rnd() * 10)}.${1 + Math.floor(rnd() * 250)}`, 443, 6, true, 2500));
      break;
    case 'denied_burst':
      for (let k = 0; k < 40; k++) push(d, a.start + k * 200, { ...rec(d, '10.9.0.1', 23, 6, false, 60, 'VERDICT_DENY'), sport: 41000 + k });
      break;
  }
}

const DURATION: Record<AttackKind, number> = {
  fast_scan: 3000,
  vertical_scan: 5000,
  slow_scan: 40_000,
  distributed_scan: 60_000,
  burst: 30_000,
  ramp: 180_000,
  exfiltration: 600_000,
  new_peer_3x: 80_001,
  denied_burst: 8000,
};

interface Replay {
  anomalies: Anomaly[];
  incidents: Incidents;
  records: number;
}

function replay(devices: Device[], days: number, learningMs: number, attacks: Attack[], seed: number): Replay {
  const rnd = lcg(seed);
  const det = new AnomalyDetector({ learningWindowMs: learningMs });
  const anomalies: Anomaly[] = [];
  const incidents = new Incidents();
  const extra: Timed[] = [];
  for (const a of attacks) attackRecords(a, rnd, extra);
  extra.sort((x, y) => x.t - y.t);
  let e = 0;
  let records = 0;
  const end = T0 + days * DAY;
  const out: Anomaly[] = [];
  const collect = () => {
    for (const a of out) {
      anomalies.push(a);
      incidents.add(a, 'seg', 'alert', det.options.incidentWindowMs);
    }
    out.length = 0;
  };
  for (let step = T0; step < end; step += 1000) {
    for (const d of devices) {
      for (const f of d.flows) {
        while (f.next < step + 1000) {
          const t = f.next;
          const bytes = f.bytes * (0.7 + 0.6 * rnd()) * (f.diurnal ? load(t) : 1);
          det.observe(d.name, rec(d, f.dst(), f.dport, f.protocol, f.world, bytes, 'VERDICT_ALLOW', t), 'src', t, out, det.options, d.segment);
          records++;
          f.next = t + Math.round(f.periodMs * (0.7 + 0.6 * rnd()));
        }
      }
    }
    while (e < extra.length && extra[e].t < step + 1000) {
      const x = extra[e++];
      det.observe(x.d.name, x.r, 'src', x.t, out, det.options, x.d.segment);
      records++;
    }
    if ((step - T0) % 2000 === 0) det.flush(step, out);
    collect();
  }
  return { anomalies, incidents, records };
}

function scheduleAttacks(devices: Device[], rnd: () => number, perKind: number, from: number, to: number): Attack[] {
  const attacks: Attack[] = [];
  const used = new Set<Device>();
  const slots = ATTACKS.length * perKind;
  const span = (to - from) / slots;
  let slot = 0;
  const free = (seg?: string) => devices.filter((d) => !used.has(d) && (!seg || d.segment === seg));
  for (let i = 0; i < perKind; i++) {
    for (const kind of ATTACKS) {
      const start = Math.round(from + slot++ * span + rnd() * span * 0.5);
      let group: Device[];
      if (kind === 'distributed_scan') {
        const seg = `seg-${i % 6}`;
        group = free(seg).slice(0, 4);
      } else {
        const f = free().filter((d) => kind !== 'vertical_scan' || d.flows.some((x) => x.dst() === '10.9.0.1'));
        group = [f[Math.floor(rnd() * f.length)]];
      }
      if (group.length === 0 || !group[0]) continue;
      for (const d of group) used.add(d);
      attacks.push({ kind, devices: group, start, end: start + DURATION[kind] });
    }
  }
  return attacks;
}

const pct = (xs: number[], q: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
};

export interface KindQuality {
  instances: number;
  recall: number;
  delayP50Seconds: number | null;
  delayMaxSeconds: number | null;
  incidentDelayP50Seconds: number | null;
}

export interface MonitoringBench {
  flowRecordsPerSecond: number;
  bytesPerDevice: number;
  quality: Record<AttackKind, KindQuality>;
  precision: { anomalies: number; incidents: number };
  recallOverall: number;
  /** Anomalies per device-day on the site replayed clean (judged days only). */
  falsePositivesPerDeviceDay: number;
  /** Devices with any anomaly in the clean replay, and unattacked devices with any in the attacked one. */
  normalDevicesWithAlarms: { clean: number; attacked: number };
  anomaliesPerAttack: number;
  incidentsPerAttack: number;
  replay: { devices: number; days: number; learningDays: number; records: number; attacks: number };
}

export function benchMonitoring(opts: { devices?: number; days?: number; perKind?: number; throughputRecords?: number } = {}): MonitoringBench {
  const nDevices = opts.devices ?? 120;
  const days = opts.days ?? 3;
  const perKind = opts.perKind ?? 10;
  const learning = DAY;

  // ---- detection quality ------------------------------------------------------------
  const attacked = makeSite(nDevices, lcg(42));
  const attacks = scheduleAttacks(attacked, lcg(99), perKind, T0 + learning + 3600_000, T0 + days * DAY - 3600_000);
  const q = replay(attacked, days, learning, attacks, 7);
  const window = 600_000;
  const covers = (device: string, t: number) => attacks.some((a) => a.devices.some((d) => d.name === device) && t >= a.start && t <= a.end + window);
  const quality = {} as Record<AttackKind, KindQuality>;
  let hits = 0;
  let instances = 0;
  for (const kind of ATTACKS) {
    const list = attacks.filter((a) => a.kind === kind);
    const delays: number[] = [];
    const incidentDelays: number[] = [];
    let found = 0;
    let n = 0;
    for (const a of list) {
      for (const d of a.devices) {
        n++;
        const mine = q.anomalies.filter((x) => x.device === d.name && Date.parse(x.at) >= a.start && Date.parse(x.at) <= a.end + window);
        const hit = mine.find((x) => x.kind === EXPECTS[kind]);
        if (hit) {
          found++;
          delays.push((Date.parse(hit.at) - a.start) / 1000);
        }
        if (mine.length) incidentDelays.push((Date.parse(mine[0].at) - a.start) / 1000);
      }
    }
    hits += found;
    instances += n;
    quality[kind] = { instances: n, recall: n ? found / n : 1, delayP50Seconds: pct(delays, 0.5), delayMaxSeconds: pct(delays, 1), incidentDelayP50Seconds: pct(incidentDelays, 0.5) };
  }
  const judged = q.anomalies.filter((a) => Date.parse(a.at) >= T0 + learning);
  const tpA = judged.filter((a) => covers(a.device, Date.parse(a.at))).length;
  const incs = q.incidents.list({ limit: 5000 });
  const tpI = incs.filter((i) => covers(i.device, Date.parse(i.openedAt))).length;
  const attackedNames = new Set(attacks.flatMap((a) => a.devices.map((d) => d.name)));
  const normalAttacked = new Set(q.anomalies.filter((a) => !attackedNames.has(a.device)).map((a) => a.device)).size;

  // ---- false positives on the same site, clean ----------------------------------------
  const clean = replay(makeSite(nDevices, lcg(42)), days, learning, [], 7);
  const cleanJudged = clean.anomalies.filter((a) => Date.parse(a.at) >= T0 + learning);
  const falsePositivesPerDeviceDay = cleanJudged.length / (nDevices * (days - learning / DAY));

  return {
    flowRecordsPerSecond: throughput(opts.throughputRecords ?? 2_000_000),
    bytesPerDevice: memoryPerDevice(),
    quality,
    precision: { anomalies: judged.length ? tpA / judged.length : 1, incidents: incs.length ? tpI / incs.length : 1 },
    recallOverall: instances ? hits / instances : 1,
    falsePositivesPerDeviceDay,
    normalDevicesWithAlarms: { clean: new Set(clean.anomalies.map((a) => a.device)).size, attacked: normalAttacked },
    anomaliesPerAttack: Math.round((tpA / Math.max(1, instances)) * 10) / 10,
    incidentsPerAttack: Math.round((tpI / Math.max(1, instances)) * 10) / 10,
    replay: { devices: nDevices, days, learningDays: learning / DAY, records: q.records, attacks: attacks.length },
  };
}

/** Records per second through observe() on one core: a realistic stream (5,000 devices) after learning. */
function throughput(total: number): number {
  const site = makeSite(5000, lcg(7));
  const rnd = lcg(8);
  const stream: { d: Device; r: FlowRecord }[] = [];
  for (let i = 0; i < 100_000; i++) {
    const d = site[i % site.length];
    const f = d.flows[Math.floor(rnd() * d.flows.length)];
    stream.push({ d, r: rec(d, f.dst(), f.dport, f.protocol, f.world, f.bytes) });
  }
  const det = new AnomalyDetector({ learningWindowMs: 60_000 });
  const sink: Anomaly[] = [];
  const t0 = T0;
  for (let i = 0; i < stream.length; i++) det.observe(stream[i].d.name, stream[i].r, 'src', t0 + i, sink, det.options, stream[i].d.segment);
  sink.length = 0;
  const began = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    const x = stream[i % stream.length];
    det.observe(x.d.name, x.r, 'src', t0 + 200_000 + i, sink, det.options, x.d.segment);
    if (sink.length > 10_000) sink.length = 0;
  }
  const secs = Number(process.hrtime.bigint() - began) / 1e9;
  return Math.round(total / secs);
}

/** Heap per tracked device in the worst case: peer and port sets full, the novel-target ring full, every volume history full. */
function memoryPerDevice(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const n = 20_000;
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const mem = new AnomalyDetector({ learningWindowMs: 0 });
  const out: Anomaly[] = [];
  const d = { addr: '', segment: 's' } as Device;
  for (let i = 0; i < n; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    d.addr = a;
    for (let k = 0; k < 100; k++) mem.observe(a, rec(d, `10.250.${k}.${i & 255}`, 1000 + k, 6, false, 100), 'src', T0 + k * 1000, out);
    out.length = 0;
  }
  gc?.();
  const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  if (mem.size !== n) throw new Error('memory bench lost devices');
  return Math.round((after - before) / n);
}

/** The quality table, as `npm run bench` prints it. */
export function formatMonitoringBench(b: MonitoringBench): string {
  const f = (x: number | null) => (x === null ? '-' : String(Math.round(x * 10) / 10));
  const rows = ATTACKS.map((k) => {
    const q = b.quality[k];
    return `| ${k} | ${q.instances} | ${q.recall.toFixed(2)} | ${f(q.delayP50Seconds)} | ${f(q.delayMaxSeconds)} | ${f(q.incidentDelayP50Seconds)} |`;
  });
  return [
    `replay: ${b.replay.devices} devices, ${b.replay.days} days (${b.replay.learningDays} learning), ${b.replay.records} flow records, ${b.replay.attacks} labelled attacks`,
    '| kind | instances | recall | delay p50 s | delay max s | incident delay p50 s |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    `recall overall ${b.recallOverall.toFixed(2)}; precision: anomalies ${b.precision.anomalies.toFixed(2)}, incidents ${b.precision.incidents.toFixed(2)}; ${b.anomaliesPerAttack} anomalies and ${b.incidentsPerAttack} incidents per attacked device`,
    `false positives per device-day (clean replay): ${b.falsePositivesPerDeviceDay.toFixed(3)}; normal devices with any alarm: ${b.normalDevicesWithAlarms.clean} (clean replay), ${b.normalDevicesWithAlarms.attacked} (attacked replay)`,
    `memory per device: ${b.bytesPerDevice} B; throughput: ${(b.flowRecordsPerSecond / 1e6).toFixed(2)} M flow records/s on one core`,
  ].join('\n');
}

if (require.main === module) {
  const b = benchMonitoring();
  console.log(formatMonitoringBench(b));
}
