// SPDX-License-Identifier: Apache-2.0
/**
 * The monitoring benchmark's site and replay (bench-monitoring.ts describes them):
 * IoT devices with periodic, jittered flows on a day/night load, labelled
 * attacks, all seeded so that every run replays the same traffic.
 */
import { Anomaly, AnomalyDetector, AnomalyKind } from './detector';
import type { FlowRecord } from './flow-record';
import { Incidents } from './incidents';

export const DAY = 86_400_000;
export const T0 = Date.UTC(2026, 0, 5);

export function lcg(seed: number) {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

export interface Flow {
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
export interface Device {
  name: string;
  addr: string;
  segment: string;
  flows: Flow[];
  /** Its usual cloud flow (bursts and exfiltration go there). */
  cloud: Flow;
}

/** Day/night: 0.4 at 03:00 UTC, 1.0 at 15:00, smooth. */
export const load = (t: number) => 0.7 - 0.3 * Math.cos((2 * Math.PI * ((t % DAY) / DAY - 0.125)));

export function makeSite(n: number, rnd: () => number): Device[] {
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

export const rec = (d: Device, dst: string, dport: number, protocol: number, world: boolean, bytes: number, verdict = 'VERDICT_ALLOW', t = 0): FlowRecord => ({
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

export const ATTACKS = ['fast_scan', 'vertical_scan', 'slow_scan', 'distributed_scan', 'burst', 'ramp', 'exfiltration', 'new_peer_3x', 'denied_burst'] as const;
export type AttackKind = (typeof ATTACKS)[number];
export const EXPECTS: Record<AttackKind, AnomalyKind> = {
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
export interface Attack {
  kind: AttackKind;
  devices: Device[];
  start: number;
  end: number;
}
export interface Timed {
  t: number;
  d: Device;
  r: FlowRecord;
}

/** The records of one attack (besides the device's normal traffic, which goes on). */
export function attackRecords(a: Attack, rnd: () => number, out: Timed[]): void {
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

export const DURATION: Record<AttackKind, number> = {
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

export interface Replay {
  anomalies: Anomaly[];
  incidents: Incidents;
  records: number;
}

export function replay(devices: Device[], days: number, learningMs: number, attacks: Attack[], seed: number): Replay {
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

export function scheduleAttacks(devices: Device[], rnd: () => number, perKind: number, from: number, to: number): Attack[] {
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
        // Four devices of one segment (the one with the most devices left).
        const seg = [0, 1, 2, 3, 4, 5].map((k) => `seg-${k}`).sort((x, y) => free(y).length - free(x).length)[0];
        group = free(seg).slice(0, 4);
        if (group.length < 4) continue;
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
