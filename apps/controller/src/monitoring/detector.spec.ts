// SPDX-License-Identifier: Apache-2.0
import { Anomaly, AnomalyDetector, addressPrefix } from './detector';
import type { FlowRecord } from './flow-record';
import { Incidents } from './incidents';
import { summariseEvidence } from './evidence';

const T0 = Date.UTC(2026, 0, 1);
const rec = (dst: string, dport: number, o: Partial<FlowRecord> = {}): FlowRecord => ({
  src: '10.0.0.5',
  dst,
  sport: 40000,
  dport,
  protocol: 6,
  srcIdentity: 300,
  dstIdentity: 301,
  verdict: 'VERDICT_ALLOW',
  packetsFwd: 10,
  bytesFwd: 2000,
  packetsRev: 10,
  bytesRev: 2000,
  ...o,
});

/** Steady traffic: every 5 s (±30 %), one of 3 peers on port 8883, bytes ±30 %. */
function steady(d: AnomalyDetector, from: number, to: number, out: Anomaly[], seed = 1, dev = 'dev') {
  let x = seed;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let t = from; t < to; t += Math.round(5000 * (0.7 + 0.6 * rnd()))) {
    const peer = `10.0.1.${1 + Math.floor(rnd() * 3)}`;
    d.observe(dev, rec(peer, 8883, { bytesFwd: Math.round(2000 * (0.7 + 0.6 * rnd())) }), 'src', t, out);
  }
}

describe('anomaly detector', () => {
  const opts = { learningWindowMs: 3600_000 };
  const H = 3600_000;

  it('steady traffic with jitter raises nothing, during or after learning', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 6 * H, out);
    d.flush(T0 + 6 * H + 120_000, out);
    expect(out).toEqual([]);
    expect(d.baseline('dev', T0 + 6 * H)).toMatchObject({ learning: false, peers: 3, ports: 1 });
  });

  it('a new peer and a new port after learning are raised once, with evidence', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    const t = T0 + 2 * H;
    for (let i = 0; i < 3; i++) d.observe('dev', rec('203.0.113.9', 443, { dstIdentity: 1 }), 'src', t + i * 1000, out);
    expect(out.map((a) => a.kind)).toEqual(['new_peer', 'new_port']);
    expect(out[0]).toMatchObject({ device: 'dev', severity: 'high', evidence: { peer: '203.0.113.9', protocol: 'tcp', port: 443, baselinePeers: 3 } });
  });

  it('a denied attempt to a new peer after learning is evidence: new_peer with verdict deny', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    d.observe('dev', rec('10.0.9.9', 8883, { verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY' }), 'src', T0 + 2 * H, out);
    expect(out).toEqual([expect.objectContaining({ kind: 'new_peer', evidence: expect.objectContaining({ peer: '10.0.9.9', verdict: 'deny' }) })]);
  });

  it('a server known by name is one peer whatever address it moves to, and a new name is a new_peer naming it', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    // learning: the vendor's cloud by name, from addresses in two unrelated /24s
    for (let i = 0; i < 40; i++) d.observe('dev', rec(i % 2 ? `52.94.1.${i}` : `34.120.7.${i}`, 443, { dstIdentity: 1, dstName: 'api.vendor.example' }), 'src', T0 + i * 60_000, out);
    expect(out).toEqual([]);
    // after learning: the same name at an address of a third /24 is not new
    d.observe('dev', rec('198.51.100.7', 443, { dstIdentity: 1, dstName: 'api.vendor.example' }), 'src', T0 + 2 * H, out);
    expect(out).toEqual([]);
    // another name is, and the anomaly says which server
    d.observe('dev', rec('52.94.1.200', 443, { dstIdentity: 1, dstName: 'exfil.attacker.example' }), 'src', T0 + 2 * H + 1000, out);
    expect(out).toEqual([expect.objectContaining({ kind: 'new_peer', evidence: expect.objectContaining({ peer: '52.94.1.200', peerName: 'exfil.attacker.example', port: 443 }) })]);
    expect(summariseEvidence(out[0])).toBe('exfil.attacker.example (52.94.1.200) tcp/443 not in baseline');
  });

  it('novelty during learning is learnt, not raised', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    d.observe('dev', rec('203.0.113.9', 443), 'src', T0, out);
    d.observe('dev', rec('203.0.113.10', 444), 'src', T0 + 1000, out);
    expect(out).toEqual([]);
  });

  it('a world peer rotating inside its /24 is one peer; another /24 is new', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    for (let i = 0; i < 50; i++) d.observe('dev', rec(`52.94.1.${i}`, 443, { dstIdentity: 1 }), 'src', T0 + i * 60_000, out);
    for (let i = 50; i < 80; i++) d.observe('dev', rec(`52.94.1.${i}`, 443, { dstIdentity: 1 }), 'src', T0 + H + i * 60_000, out);
    expect(out).toEqual([]);
    d.observe('dev', rec('52.95.7.1', 443, { dstIdentity: 1 }), 'src', T0 + 3 * H, out);
    expect(out.map((a) => a.kind)).toEqual(['new_peer']);
    expect(addressPrefix('2001:db8:1:2::5', 24, 48)).toBe('2001:db8:1');
  });

  it('a port on which many peers were learnt (an NTP pool) accepts a new peer', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    for (let i = 0; i < 10; i++) d.observe('dev', rec(`198.51.${i}.1`, 123, { protocol: 17, dstIdentity: 1 }), 'src', T0 + i * 300_000, out);
    d.observe('dev', rec('203.0.113.77', 123, { protocol: 17, dstIdentity: 1 }), 'src', T0 + 2 * H, out);
    expect(out).toEqual([]);
  });

  it('a 20x burst to the usual peer raises volume within seconds, once', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 3 * H, out);
    const t = T0 + 3 * H;
    // 20x the usual ~800 B/s for 30 s, reported every second
    for (let i = 0; i < 30; i++) d.observe('dev', rec('10.0.1.1', 8883, { bytesFwd: 16_000, bytesRev: 0 }), 'src', t + i * 1000, out);
    const v = out.filter((a) => a.kind === 'volume');
    expect(v).toHaveLength(1);
    expect(Date.parse(v[0].at) - t).toBeLessThan(5000);
    expect(v[0].evidence).toMatchObject({ windowSeconds: expect.any(Number), usualBytes: expect.any(Number) });
    expect((v[0].evidence as { bytes: number }).bytes).toBeGreaterThan((v[0].evidence as { thresholdBytes: number }).thresholdBytes);
  });

  it('a 20x burst from a device that sends one sync every 30 s (±30 %) is a burst within 5 s; its syncs alone raise nothing, and the burst does not raise the learnt peak', () => {
    // The old bucket model needed two buckets of such a burst (9 s and more): a CUSUM judged on every record does not.
    const d = new AnomalyDetector({ learningWindowMs: 2 * H });
    const out: Anomaly[] = [];
    let x = 3;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const sync = (t: number) => d.observe('dev', rec('52.94.7.1', 443, { dstIdentity: 1, bytesFwd: Math.round(3000 * (0.7 + 0.6 * rnd())), bytesRev: 0 }), 'src', t, out);
    let t = T0;
    for (; t < T0 + 5 * H; t += Math.round(30_000 * (0.7 + 0.6 * rnd()))) sync(t);
    d.flush(t, out);
    expect(out).toEqual([]);
    const start = t + 10_000;
    // 20x the usual 100 B/s, reported every second, for 30 s; the syncs go on.
    for (let i = 0; i < 30; i++) d.observe('dev', rec('52.94.7.1', 443, { dstIdentity: 1, bytesFwd: 1900, bytesRev: 0 }), 'src', start + i * 1000, out);
    sync(start + 20_000);
    const v = out.filter((a) => a.kind === 'volume');
    expect(v).toHaveLength(1);
    expect(v[0].evidence).toMatchObject({ traffic: 'world', detector: 'burst' });
    expect(Date.parse(v[0].at) - start).toBeLessThan(5000);
    // An hour on, the usual syncs are still usual, and a second burst is caught as fast: the first taught nothing.
    out.length = 0;
    t = start + 60_000;
    for (; t < start + 2 * H; t += Math.round(30_000 * (0.7 + 0.6 * rnd()))) sync(t);
    expect(out).toEqual([]);
    for (let i = 0; i < 10; i++) d.observe('dev', rec('52.94.7.1', 443, { dstIdentity: 1, bytesFwd: 1900, bytesRev: 0 }), 'src', t + 10_000 + i * 1000, out);
    expect(out.map((a) => a.kind)).toEqual(['volume']);
    expect(Date.parse(out[0].at) - (t + 10_000)).toBeLessThan(5000);
  });

  it('a ramp to 5x over a minute is caught, and exfiltration at 3x over ten minutes within the window', () => {
    for (const [factor, ramp, hold] of [
      [5, 60_000, 120_000],
      [3, 0, 600_000],
    ]) {
      const d = new AnomalyDetector(opts);
      const out: Anomaly[] = [];
      steady(d, T0, T0 + 4 * H, out, 7);
      const t = T0 + 4 * H;
      for (let dt = 0; dt < ramp + hold; dt += 1000) {
        const f = dt < ramp ? 1 + ((factor - 1) * dt) / ramp : factor;
        // usual rate ~ 4000 B / 5 s = 800 B/s; the extra on top of steady traffic
        d.observe('dev', rec('10.0.1.2', 8883, { bytesFwd: Math.round(800 * (f - 1)), bytesRev: 0 }), 'src', t + dt, out);
      }
      steady(d, t, t + ramp + hold, out, 9);
      const v = out.filter((a) => a.kind === 'volume');
      expect(v.length).toBeGreaterThanOrEqual(1);
      expect(Date.parse(v[0].at) - t).toBeLessThanOrEqual(ramp + hold);
    }
  });

  it('a short learning window gets volume judged right after it, not after minutes of fixed buckets', () => {
    const d = new AnomalyDetector({ learningWindowMs: 30_000, intervalMs: 1000, volumeWindowsMs: [1000, 5000, 10_000] });
    const out: Anomaly[] = [];
    for (let t = 0; t < 40_000; t += 200) d.observe('dev', rec('10.0.1.1', 8883, { bytesFwd: 1000 + ((t / 200) % 7) * 50 }), 'src', T0 + t, out);
    expect(d.baseline('dev', T0 + 40_000)!.volume.tracks[1].windows.every((w) => w.judged)).toBe(true);
    for (let t = 40_000; t < 45_000; t += 200) d.observe('dev', rec('10.0.1.1', 8883, { bytesFwd: 40_000 }), 'src', T0 + t, out);
    expect(out.filter((a) => a.kind === 'volume')).toHaveLength(1);
  });

  it('a fast scan raises one scan, no new_port beside it, and no denied_burst', () => {
    const d = new AnomalyDetector({ ...opts, deniedBurst: 10 });
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    for (let i = 0; i < 60; i++) d.observe('dev', rec(`10.0.5.${i}`, 22, { verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 1, bytesFwd: 60, bytesRev: 0 }), 'src', T0 + 2 * H + i * 50, out);
    expect(out.map((a) => a.kind)).toEqual(['new_peer', 'new_port', 'new_peer', 'new_peer', 'scan']);
    // Refused attempts to four new hosts on one port: a sweep, from the early rule.
    expect(out[4]).toMatchObject({ kind: 'scan', severity: 'high', evidence: { type: 'horizontal', distinctDestinations: 4, windowSeconds: 10, early: true } });
    expect((out[4].evidence as { sample: string[] }).sample).toContain('10.0.5.0:22/tcp');
  });

  it('a fast scan of hosts that answer is a scan by the fast rule (16 targets in 10 s), not by the early one', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    for (let i = 0; i < 30; i++) d.observe('dev', rec(`10.0.7.${i}`, 8883), 'src', T0 + 2 * H + i * 50, out);
    const scans = out.filter((a) => a.kind === 'scan');
    expect(scans).toHaveLength(1);
    expect(scans[0].evidence).toMatchObject({ type: 'horizontal', windowSeconds: 10 });
    expect((scans[0].evidence as { distinctDestinations: number }).distinctDestinations).toBeGreaterThanOrEqual(16);
    expect((scans[0].evidence as { early?: boolean }).early).toBeUndefined();
  });

  it('a slow scan (30 addresses over 40 s) is one scan, not 30 new_peer', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    for (let i = 0; i < 30; i++) d.observe('dev', rec(`10.0.6.${i}`, 8883), 'src', T0 + 2 * H + Math.round((i * 40_000) / 30), out);
    const kinds = out.map((a) => a.kind);
    expect(kinds.filter((k) => k === 'scan')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'new_peer').length).toBeLessThanOrEqual(3);
    expect(out.find((a) => a.kind === 'scan')!.evidence).toMatchObject({ type: 'horizontal', windowSeconds: 60 });
  });

  it('a slow sweep of refused attempts is a scan from its fourth target (about 4 s), once; new peers that answer are not', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    const start = T0 + 2 * H;
    for (let i = 0; i < 30; i++) d.observe('dev', rec(`10.0.6.${i}`, 23, { verdict: 'VERDICT_DENY', bytesRev: 0, packetsRev: 0 }), 'src', start + Math.round((i * 40_000) / 30), out);
    const scans = out.filter((a) => a.kind === 'scan');
    expect(scans).toHaveLength(1);
    expect(Date.parse(scans[0].at) - start).toBeLessThan(5000);
    expect(scans[0].evidence).toMatchObject({ type: 'horizontal', distinctDestinations: 4, early: true });
    // Five new peers that answer, 2 s apart, on another device: new peers (the first three alarms), no scan.
    const e = new AnomalyDetector(opts);
    const seen: Anomaly[] = [];
    steady(e, T0, T0 + 2 * H, seen);
    for (let i = 0; i < 5; i++) e.observe('dev', rec(`203.0.${113 + i}.1`, 443, { dstIdentity: 1 }), 'src', start + i * 2000, seen);
    expect(seen.map((a) => a.kind)).not.toContain('scan');
    expect(seen.filter((a) => a.kind === 'new_peer')).toHaveLength(3);
  });

  it('a vertical scan (many ports on one host) is a scan, and does not blind the port baseline', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * H, out);
    for (let p = 1; p <= 100; p++) d.observe('dev', rec('10.0.1.1', p, { verdict: 'audit' }), 'src', T0 + 2 * H + p * 20, out);
    expect(out.filter((a) => a.kind === 'scan')).toEqual([expect.objectContaining({ evidence: expect.objectContaining({ type: 'vertical', distinctDestinations: 1 }) })]);
    expect(out.filter((a) => a.kind === 'new_port').length).toBeLessThanOrEqual(3);
    expect(d.baseline('dev', T0 + 3 * H)).toMatchObject({ ports: 1 });
    // Well after the scan, a new port is still news.
    out.length = 0;
    steady(d, T0 + 2 * H + 10_000, T0 + 3 * H, out, 3);
    d.observe('dev', rec('10.0.1.2', 5000), 'src', T0 + 3 * H, out);
    expect(out.map((a) => a.kind)).toEqual(['new_port']);
    // ... and so is one a minute after the scan, while the scan is still in the slow and long windows.
    out.length = 0;
    d.observe('dev', rec('10.0.1.1', 200), 'src', T0 + 2 * H + 30_000, out);
    expect(out.map((a) => a.kind)).toEqual(['new_port']);
  });

  it('a scan during learning teaches the baseline nothing', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 600_000, out);
    for (let p = 1; p <= 40; p++) d.observe('dev', rec('10.0.1.1', 1000 + p), 'src', T0 + 600_000 + p * 10, out);
    expect(out.map((a) => a.kind)).toEqual(['scan']);
    expect(d.baseline('dev', T0 + 700_000)).toMatchObject({ ports: 1 });
  });

  it('a distributed scan across devices of one segment, each under its own threshold', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    for (const dev of ['a', 'b', 'c', 'e']) steady(d, T0, T0 + 2 * H, out, dev.charCodeAt(0), dev);
    let n = 0;
    for (let i = 0; i < 10; i++) for (const dev of ['a', 'b', 'c']) d.observe(dev, rec(`10.0.7.${n++}`, 22), 'src', T0 + 2 * H + n * 1000, out, d.options, 'seg');
    const scans = out.filter((a) => a.kind === 'scan');
    expect(scans.map((a) => a.device).sort()).toEqual(['a', 'b', 'c']);
    expect(scans[0].evidence).toMatchObject({ type: 'distributed', segment: 'seg' });
    expect(out.filter((a) => a.device === 'e')).toEqual([]);
  });

  it('a distributed sweep of refused attempts, one target per device every 7 s, is a scan of each device within 5 s', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    const devs = ['a', 'b', 'c', 'f'];
    for (const dev of [...devs, 'e']) steady(d, T0, T0 + 2 * H, out, dev.charCodeAt(0), dev);
    const start = T0 + 2 * H;
    devs.forEach((dev, j) => {
      for (let k = 0; k < 8; k++) d.observe(dev, rec(`10.0.8.${j * 8 + k}`, 445, { verdict: 'VERDICT_DENY', bytesRev: 0, packetsRev: 0 }), 'src', start + j * 1500 + k * 7000, out, d.options, 'seg');
    });
    const scans = out.filter((a) => a.kind === 'scan');
    expect(scans.map((a) => a.device).sort()).toEqual(devs);
    for (const x of scans) expect(Date.parse(x.at) - start).toBeLessThan(5000);
    expect(scans[0].evidence).toMatchObject({ type: 'distributed', segment: 'seg' });
    expect(out.filter((a) => a.device === 'e')).toEqual([]);
  });

  it('a burst of denied attempts to one target raises denied_burst with samples', () => {
    const d = new AnomalyDetector({ ...opts, deniedBurst: 30 });
    const out: Anomaly[] = [];
    for (let i = 0; i < 40; i++) d.observe('dev', rec('10.0.9.9', 1883, { sport: 40000 + i, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 3 }), 'src', T0 + i * 200, out);
    expect(out).toEqual([expect.objectContaining({ kind: 'denied_burst', evidence: expect.objectContaining({ deniedAttempts: 30, deniedPackets: 90, distinctTargets: 1, sample: expect.arrayContaining(['10.0.9.9:1883/tcp policy']) }) })]);
  });

  it('a few denied packets now and then are not a burst', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    for (let i = 0; i < 100; i++) d.observe('dev', rec('10.0.9.9', 1883, { verdict: 'deny', packetsFwd: 2 }), 'src', T0 + i * 30_000, out);
    expect(out).toEqual([]);
  });

  it('bounded: a full peer set evicts the least used, so the usual peers stay and novelty is still judged', () => {
    const d = new AnomalyDetector({ ...opts, learningWindowMs: 0 });
    const out: Anomaly[] = [];
    // 200 new peers, one a minute (no scan), among steady traffic to the usual three.
    steady(d, T0, T0 + 5 * H, out);
    for (let i = 0; i < 200; i++) d.observe('dev', rec(`10.50.${i >> 8}.${i & 255}`, 8883), 'src', T0 + H + i * 60_000, out);
    const b = d.baseline('dev', T0 + 5 * H)!;
    expect(b.peers).toBeLessThanOrEqual(48);
    expect(b.peersEvicted).toBeGreaterThan(0);
    out.length = 0;
    steady(d, T0 + 5 * H, T0 + 6 * H, out, 5);
    expect(out).toEqual([]);
    d.observe('dev', rec('10.99.0.1', 8883), 'src', T0 + 6 * H, out);
    expect(out.map((a) => a.kind)).toEqual(['new_peer']);
  });
});

describe('incidents', () => {
  it("groups one device's anomalies within the window into one incident with all the evidence, the highest severity, one action", () => {
    const inc = new Incidents();
    const at = (s: number) => new Date(T0 + s * 1000).toISOString();
    const a = inc.add({ device: 'd', kind: 'new_port', severity: 'medium', evidence: { peer: '10.0.0.1', protocol: 'tcp', port: 22, verdict: 'audit' }, at: at(0) }, 's', 'quarantine', 600_000);
    const b = inc.add({ device: 'd', kind: 'scan', severity: 'high', evidence: { type: 'vertical', distinctTargets: 16, windowSeconds: 10 }, at: at(2) }, 's', 'quarantine', 600_000);
    const c = inc.add({ device: 'd', kind: 'new_peer', severity: 'medium', evidence: { peer: '10.0.0.9', protocol: 'tcp', port: 22, verdict: 'allow' }, at: at(1000) }, 's', 'quarantine', 600_000);
    expect([a.opened, b.opened, c.opened]).toEqual([true, false, true]);
    expect(inc.list()).toHaveLength(2);
    expect(inc.get(a.incident.id)).toMatchObject({ severity: 'high', kinds: ['new_port', 'scan'], anomalies: 2, action: 'quarantine', open: false, evidence: { newPorts: ['tcp/22 to 10.0.0.1 (audit)'], scans: [expect.objectContaining({ type: 'vertical' })] } });
  });
});
