// SPDX-License-Identifier: Apache-2.0
import { EncryptionStats, type EncryptionFlowRecord, type SourceOf } from './encryption-stats';

const SENSORS = 10;
const rec = (over: Partial<EncryptionFlowRecord>): EncryptionFlowRecord => ({
  src: '10.1.0.2',
  dst: '10.2.0.2',
  sport: 40000,
  dport: 8883,
  protocol: 6,
  family: 4,
  srcIdentity: SENSORS,
  verdict: 'VERDICT_ALLOW',
  reason: 'DROP_REASON_NONE',
  bytesFwd: 100,
  bytesRev: 50,
  firstSeen: 1_000_000,
  lastSeen: 1_000_100,
  encryption: 'tls',
  ...over,
});
const devices: Record<string, string> = { '10.1.0.2': 'thermo-1', '10.1.0.3': 'cam-2' };
const who = (r: EncryptionFlowRecord): SourceOf => ({ device: devices[r.src] ?? null, segment: r.srcIdentity === SENSORS ? 'sensors' : 'world' });

describe('EncryptionStats', () => {
  test('counts each flow once under its class, bytes both ways, per device and segment', () => {
    const calls: [string, string, number, number][] = [];
    const s = new EncryptionStats((seg, cls, f, b) => calls.push([seg, cls, f, b]));
    s.ingest('gw', [rec({}), rec({ src: '10.1.0.3', sport: 1, encryption: 'mqtt', dport: 1883 })], who);
    // The next batch of the same flows: increments only, no new flows.
    s.ingest('gw', [rec({ bytesFwd: 10, bytesRev: 0 }), rec({ src: '10.1.0.3', sport: 1, encryption: 'mqtt', dport: 1883, bytesFwd: 40, bytesRev: 0 })], who);
    const r = s.report();
    expect(r.total).toMatchObject({ flows: 2, flowsInClear: 1, flowsEncrypted: 1, flowShareInClear: 0.5, bytes: 150 + 10 + 150 + 40, bytesInClear: 190, bytesShareInClear: 0.5429 });
    expect(r.devices.map((d) => [d.device, d.flowsInClear, d.flowShareInClear, d.bytesShareInClear])).toEqual([
      ['cam-2', 1, 1, 1],
      ['thermo-1', 0, 0, 0],
    ]);
    expect(r.devices[0].clearTo).toEqual(['10.2.0.2:1883/tcp']);
    expect(r.segments).toEqual([expect.objectContaining({ segment: 'sensors', flows: 2, flowsInClear: 1 })]);
    expect(calls.filter((c) => c[2] === 1).map((c) => c[1]).sort()).toEqual(['mqtt', 'tls']);
  });

  test('a pending flow holds its bytes until classified; ICMP and flows without payload are not counted', () => {
    const s = new EncryptionStats();
    s.ingest('gw', [rec({ encryption: 'pending', bytesFwd: 60, bytesRev: 60 }), rec({ protocol: 1, encryption: 'pending' })], who);
    expect(s.report().total.flows).toBe(0);
    s.ingest('gw', [rec({ encryption: 'mqtt', bytesFwd: 30, bytesRev: 0, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_PLAINTEXT' })], who);
    const t = s.report().total;
    expect(t).toMatchObject({ flows: 1, flowsInClear: 1, bytes: 150, refusedInClear: 1 });
  });

  test('a reused 5-tuple later is a new flow; unknown sources are listed by address; enforcers without the class count as unknown', () => {
    const s = new EncryptionStats();
    s.ingest('gw', [rec({ encryption: 'http' })], who);
    s.ingest('gw', [rec({ encryption: 'http', firstSeen: 1_000_001 })], who); // clock jitter: the same flow
    s.ingest('gw', [rec({ encryption: 'http', firstSeen: 2_000_000 })], who);
    s.ingest('gw', [rec({ src: '10.9.9.9', srcIdentity: 1, encryption: '' })], who);
    const r = s.report();
    expect(r.devices.find((d) => d.device === 'thermo-1')).toMatchObject({ flows: 2, flowsInClear: 2 });
    expect(r.devices.find((d) => d.device === null)).toMatchObject({ addresses: ['10.9.9.9'], segment: 'world', flows: 1, flowsInClear: 0, byClass: { unknown: { flows: 1, bytes: 150 } } });
    expect(s.report({ segment: 'world' }).devices).toHaveLength(1);
    expect(s.report({ device: 'thermo-1' }).devices).toHaveLength(1);
  });

  test('bounded: tracked flows and sources', () => {
    const s = new EncryptionStats(undefined, { flows: 100, sources: 10 });
    for (let i = 0; i < 1000; i++) s.ingest('gw', [rec({ src: `10.3.${i >> 8}.${i & 255}`, sport: i, encryption: 'coap', protocol: 17 })], who);
    expect(s.trackedFlows).toBeLessThanOrEqual(100); // trimmed an eighth at a time
    expect(s.trackedFlows).toBeGreaterThanOrEqual(87);
    const r = s.report();
    expect(r.devices).toHaveLength(10);
    expect(r.sourcesOverflow).toBe(990);
    expect(r.total.flowsInClear).toBe(1000);
  });
});
