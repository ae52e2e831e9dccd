// SPDX-License-Identifier: Apache-2.0
/**
 * Monitoring benchmark, called by `npm run bench`: a synthetic site replayed
 * through the anomaly pipeline (AnomalyDetector.observe, as MonitoringService
 * calls it), with injected scans, exfiltration bursts and new-peer contacts.
 * Reports throughput on one core, memory per tracked device, precision and
 * recall per injected kind, and the false-positive rate on a clean replay.
 */
import { Anomaly, AnomalyDetector, AnomalyKind } from './detector';
import type { FlowRecord } from './flow-record';

export interface MonitoringBench {
  flowRecordsPerSecond: number;
  bytesPerDevice: number;
  detection: Record<'scan' | 'volume' | 'new_peer', { precision: number; recall: number; injected: number; raised: number }>;
  /** Anomalies raised per device-hour of clean traffic after learning. */
  falsePositiveRateClean: number;
  records: number;
  devices: number;
}

function lcg(seed: number) {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

interface Site {
  devices: { addr: string; peers: string[]; port: number; bytes: number }[];
}

function makeSite(n: number, rnd: () => number): Site {
  const devices = [];
  for (let i = 0; i < n; i++) {
    const peers = Array.from({ length: 1 + Math.floor(rnd() * 4) }, (_, k) => `10.200.${k}.${1 + Math.floor(rnd() * 20)}`);
    devices.push({ addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, peers, port: [8883, 443, 5683, 1883][i % 4], bytes: 500 + Math.floor(rnd() * 5000) });
  }
  return { devices };
}

function record(src: string, dst: string, dport: number, bytes: number, verdict = 'VERDICT_ALLOW', sport = 40000): FlowRecord {
  return { src, dst, sport, dport, protocol: 6, srcIdentity: 300, dstIdentity: 301, verdict, packetsFwd: 10, bytesFwd: bytes, packetsRev: 8, bytesRev: bytes >> 1 };
}

/**
 * One replay: every device sends a flow record every `everyMs` for `hours`;
 * `inject` (after learning) adds attacks, labelled by device and kind.
 */
function replay(
  det: AnomalyDetector,
  site: Site,
  hours: number,
  everyMs: number,
  rnd: () => number,
  inject?: (t: number, emit: (device: string, r: FlowRecord) => void, truth: Map<string, Set<AnomalyKind>>) => void,
) {
  const out: Anomaly[] = [];
  const truth = new Map<string, Set<AnomalyKind>>();
  let records = 0;
  const start = Date.UTC(2026, 0, 1);
  const end = start + hours * 3600_000;
  const emit = (device: string, r: FlowRecord) => {
    det.observe(device, r, 'src', tNow, out);
    records++;
  };
  let tNow = start;
  for (let t = start; t < end; t += everyMs) {
    tNow = t;
    for (const d of site.devices) {
      const jitter = 0.7 + 0.6 * rnd();
      emit(d.addr, record(d.addr, d.peers[Math.floor(rnd() * d.peers.length)], d.port, Math.round(d.bytes * jitter)));
    }
    inject?.(t, emit, truth);
  }
  det.flush(end + 3600_000, out);
  return { out, truth, records, start, end };
}

export function benchMonitoring(opts: { devices?: number; throughputRecords?: number } = {}): MonitoringBench {
  const nDevices = opts.devices ?? 200;

  // ---- throughput: a large stream through one detector ------------------------------
  const tp = new AnomalyDetector({ learningWindowMs: 60_000, intervalMs: 60_000 });
  const rndT = lcg(7);
  const tpSite = makeSite(5000, rndT);
  const stream: FlowRecord[] = [];
  for (let i = 0; i < 50_000; i++) {
    const d = tpSite.devices[i % tpSite.devices.length];
    stream.push(record(d.addr, d.peers[i % d.peers.length], d.port, d.bytes + (i % 97)));
  }
  const total = opts.throughputRecords ?? 1_000_000;
  const sink: Anomaly[] = [];
  const t0 = Date.UTC(2026, 0, 1);
  // warm up
  for (let i = 0; i < stream.length; i++) tp.observe(stream[i].src, stream[i], 'src', t0 + i, sink);
  const began = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    const r = stream[i % stream.length];
    tp.observe(r.src, r, 'src', t0 + 50_000 + i * 2, sink);
    if (sink.length > 10_000) sink.length = 0;
  }
  const secs = Number(process.hrtime.bigint() - began) / 1e9;
  const flowRecordsPerSecond = Math.round(total / secs);

  // ---- memory per device ------------------------------------------------------------
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const memDevices = 20_000;
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const mem = new AnomalyDetector({ learningWindowMs: 0 });
  const memOut: Anomaly[] = [];
  for (let i = 0; i < memDevices; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    // each device fills its peer and port sets: the worst case
    for (let k = 0; k < 100; k++) mem.observe(a, record(a, `10.250.${k}.${i & 255}`, 1000 + k, 100), 'src', t0 + k * 1000, memOut);
    memOut.length = 0;
  }
  gc?.();
  const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const bytesPerDevice = Math.round((after - before) / memDevices);
  if (mem.size !== memDevices) throw new Error('memory bench lost devices');

  // ---- detection quality --------------------------------------------------------------
  const detOpts = { learningWindowMs: 2 * 3600_000, intervalMs: 60_000 };
  const rnd = lcg(42);
  const site = makeSite(nDevices, rnd);
  const hours = 6;
  const learnEnd = Date.UTC(2026, 0, 1) + detOpts.learningWindowMs + 30 * 60_000;
  const det = new AnomalyDetector(detOpts);
  const schedule = new Map<number, { device: string; kind: 'scan' | 'volume' | 'new_peer' }>();
  const rndI = lcg(99);
  for (let i = 0; i < 60; i++) {
    const kind = (['scan', 'volume', 'new_peer'] as const)[i % 3];
    const d = site.devices[Math.floor(rndI() * site.devices.length)].addr;
    const at = learnEnd + Math.floor(rndI() * (hours * 3600_000 - detOpts.learningWindowMs - 3600_000) / 60_000) * 60_000;
    if (![...schedule.values()].some((s) => s.device === d)) schedule.set(at + i, { device: d, kind });
  }
  const injections = [...schedule.entries()].sort((a, b) => a[0] - b[0]);
  let next = 0;
  const q = replay(det, site, hours, 10_000, rnd, (t, emit, truth) => {
    while (next < injections.length && injections[next][0] <= t) {
      const { device, kind } = injections[next++][1];
      const set = truth.get(device) ?? new Set();
      set.add(kind);
      truth.set(device, set);
      if (kind === 'scan') for (let k = 0; k < 60; k++) emit(device, record(device, `10.201.${k >> 8}.${k & 255}`, 22, 60, 'VERDICT_DENY'));
      else if (kind === 'new_peer') emit(device, record(device, `198.51.100.${1 + (next % 200)}`, site.devices.find((x) => x.addr === device)!.port, 800));
      else for (let k = 0; k < 30; k++) emit(device, record(device, site.devices.find((x) => x.addr === device)!.peers[0], site.devices.find((x) => x.addr === device)!.port, 2_000_000));
    }
  });
  const detection = {} as MonitoringBench['detection'];
  for (const kind of ['scan', 'volume', 'new_peer'] as const) {
    const raised = q.out.filter((a) => a.kind === kind);
    const injected = [...q.truth.entries()].filter(([, k]) => k.has(kind)).map(([d]) => d);
    const hitDevices = new Set(raised.map((a) => a.device));
    const tp_ = raised.filter((a) => q.truth.get(a.device)?.has(kind)).length;
    detection[kind] = {
      precision: raised.length ? tp_ / raised.length : 1,
      recall: injected.length ? injected.filter((d) => hitDevices.has(d)).length / injected.length : 1,
      injected: injected.length,
      raised: raised.length,
    };
  }

  // ---- false positives on clean traffic -------------------------------------------------
  const clean = new AnomalyDetector(detOpts);
  const c = replay(clean, site, hours, 10_000, lcg(43));
  const judgedHours = (hours * 3600_000 - detOpts.learningWindowMs) / 3600_000;
  const falsePositiveRateClean = c.out.length / (site.devices.length * judgedHours);

  return { flowRecordsPerSecond, bytesPerDevice, detection, falsePositiveRateClean, records: total, devices: memDevices };
}

if (require.main === module) {
  console.log(JSON.stringify(benchMonitoring(), null, 2));
}
