// SPDX-License-Identifier: Apache-2.0
import { Anomaly, AnomalyDetector } from './detector';
import type { FlowRecord } from './flow-record';

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

/** A day of steady traffic: every 10 s, one of 3 peers on port 8883, bytes jittering ±20%. */
function steady(d: AnomalyDetector, from: number, to: number, out: Anomaly[], seed = 1) {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let t = from; t < to; t += 10_000) {
    const peer = `10.0.1.${1 + Math.floor(rnd() * 3)}`;
    d.observe('dev', rec(peer, 8883, { bytesFwd: Math.round(2000 * (0.8 + 0.4 * rnd())) }), 'src', t, out);
  }
}

describe('anomaly detector', () => {
  const opts = { learningWindowMs: 3600_000, intervalMs: 60_000 };

  it('steady traffic raises nothing, during or after learning', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 6 * 3600_000, out);
    d.flush(T0 + 6 * 3600_000 + 120_000, out);
    expect(out).toEqual([]);
    expect(d.baseline('dev', T0 + 6 * 3600_000)).toMatchObject({ learning: false, peers: 3, ports: 1 });
  });

  it('a new peer and a new port after learning are raised once, with evidence', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 2 * 3600_000, out);
    const t = T0 + 2 * 3600_000;
    d.observe('dev', rec('203.0.113.9', 443, { dstIdentity: 1 }), 'src', t, out);
    d.observe('dev', rec('203.0.113.9', 443, { dstIdentity: 1 }), 'src', t + 1000, out);
    expect(out.map((a) => a.kind)).toEqual(['new_peer', 'new_port']);
    expect(out[0]).toMatchObject({ device: 'dev', severity: 'high', evidence: { peer: '203.0.113.9', protocol: 'tcp', port: 443, baselinePeers: 3 } });
  });

  it('novelty during learning is learnt, not raised', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    d.observe('dev', rec('203.0.113.9', 443), 'src', T0, out);
    d.observe('dev', rec('203.0.113.10', 444), 'src', T0 + 1000, out);
    expect(out).toEqual([]);
  });

  it('a volume burst far outside the usual range raises volume with median and MAD; the burst does not teach itself in', () => {
    const d = new AnomalyDetector(opts);
    const out: Anomaly[] = [];
    steady(d, T0, T0 + 3 * 3600_000, out);
    const t = T0 + 3 * 3600_000;
    for (let i = 0; i < 20; i++) d.observe('dev', rec('10.0.1.1', 8883, { bytesFwd: 5_000_000 }), 'src', t + i * 1000, out);
    d.observe('dev', rec('10.0.1.1', 8883), 'src', t + 70_000, out);
    const v = out.filter((a) => a.kind === 'volume');
    expect(v).toHaveLength(1);
    expect(v[0].evidence).toMatchObject({ intervalSeconds: 60 });
    expect((v[0].evidence as { bytes: number }).bytes).toBeGreaterThan(100_000_000);
    expect((v[0].evidence as { score: number }).score).toBeGreaterThan(8);
    // a second burst is still anomalous
    for (let i = 0; i < 20; i++) d.observe('dev', rec('10.0.1.1', 8883, { bytesFwd: 5_000_000 }), 'src', t + 130_000 + i * 1000, out);
    d.flush(t + 200_000, out);
    expect(out.filter((a) => a.kind === 'volume')).toHaveLength(2);
  });

  it('a scan (many destinations in a short window) raises one scan, and no denied_burst beside it', () => {
    const d = new AnomalyDetector({ ...opts, scanDistinct: 20, deniedBurst: 10 });
    const out: Anomaly[] = [];
    for (let i = 0; i < 60; i++) d.observe('dev', rec(`10.0.5.${i}`, 22, { verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 1 }), 'src', T0 + i * 50, out);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'scan', severity: 'high', evidence: { type: 'horizontal', distinctDestinations: 20, windowSeconds: 10 } });
    expect((out[0].evidence as { sample: string[] }).sample).toContain('10.0.5.0:22/tcp');
  });

  it('a vertical scan (many ports on one host) is a scan too', () => {
    const d = new AnomalyDetector({ ...opts, scanDistinct: 20 });
    const out: Anomaly[] = [];
    for (let p = 1; p <= 30; p++) d.observe('dev', rec('10.0.5.1', p, { verdict: 'deny' }), 'src', T0 + p, out);
    expect(out[0]).toMatchObject({ kind: 'scan', evidence: { type: 'vertical', distinctDestinations: 1, distinctTargets: 20 } });
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

  it('bounded: state per device stays small however many peers it has', () => {
    const d = new AnomalyDetector({ ...opts, learningWindowMs: 0 });
    const out: Anomaly[] = [];
    for (let i = 0; i < 10_000; i++) d.observe('dev', rec(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 1000 + (i % 5000)), 'src', T0 + i * 20_000, out);
    const b = d.baseline('dev', T0)!;
    expect(b.peersSaturated).toBe(true);
    expect(b.portsSaturated).toBe(true);
    // once saturated, novelty stops being reported (too diverse to judge)
    const n = out.filter((a) => a.kind === 'new_peer').length;
    expect(n).toBeLessThanOrEqual(96);
  });
});
