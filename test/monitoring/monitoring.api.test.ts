// SPDX-License-Identifier: Apache-2.0
/**
 * Monitoring against a started controller (PGlite): flow records fed through
 * POST /v1/monitoring/flows (the same records the control channel hands over),
 * unknown devices and admit, posture quarantine and release with its latency,
 * anomalies, the ECS event stream, recommend, and syslog to a real rsyslogd.
 */
import { startTestController, type TestController } from '../api/harness';
import { startRsyslog, type TestRsyslog } from './rsyslog';
import { until } from '../support/wait';

const SITE = [
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'cameras' }, spec: { cidrs: ['10.10.2.0/24'], onAnomaly: 'quarantine' } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: ['10.10.9.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'updates' }, spec: { cidrs: ['10.10.8.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'cam-07', labels: { type: 'camera' } }, spec: { addresses: ['10.10.2.7'], firmware: '4.2.1' } },
  { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'sensor-1', labels: { type: 'sensor' } }, spec: { addresses: ['10.10.1.11'] } },
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'sensors-to-broker' }, spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['8883'] }, { protocol: 'udp', ports: ['5683'] }] } },
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'quarantine-to-updates' }, spec: { from: ['quarantine'], to: ['updates'], allow: [{ protocol: 'tcp', ports: ['443'] }] } },
  { apiVersion: 'cordon/v1', kind: 'PostureRule', metadata: { name: 'camera-firmware' }, spec: { selector: { type: 'camera' }, require: { firmware: '>=4.2.0' }, onFailure: 'quarantine' } },
];

const flow = (src: string, dst: string, dport: number, o: Record<string, unknown> = {}) => ({
  src,
  dst,
  sport: 40000,
  dport,
  protocol: 6,
  family: 4,
  srcIdentity: 0,
  dstIdentity: 0,
  verdict: 'VERDICT_ALLOW',
  reason: 'DROP_REASON_NONE',
  ruleId: 0,
  packetsFwd: 10,
  bytesFwd: 1000,
  packetsRev: 8,
  bytesRev: 800,
  firstSeen: Date.now() - 1000,
  lastSeen: Date.now(),
  ifindex: 4,
  ...o,
});


describe('monitoring API', () => {
  let t: TestController;
  let rs: TestRsyslog;
  let ids: Record<string, number>;

  beforeAll(async () => {
    rs = await startRsyslog();
    process.env.CORDON_MONITORING_TICK = '300ms';
    try {
      t = await startTestController('pglite');
    } finally {
      delete process.env.CORDON_MONITORING_TICK;
    }
    const s = await t.call('PUT', '/v1/monitoring/settings', { syslog: `tcp://127.0.0.1:${rs.tcpPort}`, learningWindow: '1s', scanWindow: '10s', scanDistinct: 20, deniedBurst: 20 });
    expect(s.status).toBe(200);
    const a = await t.call('POST', '/v1/apply', { documents: SITE, dryRun: false });
    expect(a.status).toBe(200);
    ids = (await t.call('GET', '/v1/bundles/current')).body.identities;
  });
  afterAll(async () => {
    await t?.close();
    await rs?.stop();
  });

  it('refuses bad flow records and bad settings with the field named', async () => {
    const r = await t.call('POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: [{ src: '10.0.0.1' }] });
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/flows\.0\.dst/);
    const s = await t.call('PUT', '/v1/monitoring/settings', { syslog: 'http://x' });
    expect(s.status).toBe(400);
    expect(s.body.detail).toMatch(/syslog/);
  });

  it('lists an unknown source with what it tried, raises an event, and admits it through apply', async () => {
    const r = await t.call('POST', '/v1/monitoring/flows', {
      enforcer: 'gw-1',
      flows: [flow('10.10.1.77', '10.10.9.5', 8883, { srcIdentity: ids.sensors, dstIdentity: ids.broker, mac: '02:00:00:00:00:77' }), flow('10.10.1.77', '10.10.9.5', 22, { srcIdentity: ids.sensors, dstIdentity: ids.broker, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY' })],
    });
    expect(r.status).toBe(202);
    const u = await t.call('GET', '/v1/unknown-devices');
    expect(u.body.items).toEqual([
      expect.objectContaining({ address: '10.10.1.77', mac: '02:00:00:00:00:77', interface: 'ifindex 4', enforcer: 'gw-1', segment: 'sensors', tried: ['10.10.9.5:8883/tcp allow', '10.10.9.5:22/tcp deny'] }),
    ]);
    const ev = await t.call('GET', '/v1/events?type=unknown_device');
    expect(ev.body.items).toEqual([expect.objectContaining({ type: 'unknown_device', source: expect.objectContaining({ ip: '10.10.1.77' }) })]);

    const bad = await t.call('POST', '/v1/admit', { address: '10.10.1.77', name: 'Bad Name' });
    expect(bad.status).toBe(400);
    const dry = await t.call('POST', '/v1/admit', { address: '10.10.1.77', name: 'sensor-77', labels: { type: 'sensor' }, dryRun: true });
    expect(dry.body).toMatchObject({ dryRun: true, documents: [{ kind: 'Device', name: 'sensor-77', action: 'created' }] });
    const ok = await t.call('POST', '/v1/admit', { address: '10.10.1.77', name: 'sensor-77', labels: { type: 'sensor' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ changed: true, device: { spec: { addresses: ['10.10.1.77'], mac: '02:00:00:00:00:77' } } });
    expect((await t.call('GET', '/v1/devices/sensor-77')).body.metadata).toEqual({ name: 'sensor-77', labels: { type: 'sensor' } });
    expect((await t.call('GET', '/v1/unknown-devices')).body.items).toEqual([]);
    const audit = await t.call('GET', '/v1/audit');
    expect(JSON.stringify(audit.body)).toContain('Device');
  });

  it('quarantines a device whose firmware falls below the rule within a second, and releases it when it complies', async () => {
    const before = Date.now();
    const down = await t.call('POST', '/v1/apply', { documents: [{ ...SITE[4], spec: { addresses: ['10.10.2.7'], firmware: '4.1.9' } }], dryRun: false });
    expect(down.status).toBe(200);
    const q = await until('cam-07 in quarantine', async () => {
      const l = (await t.call('GET', '/v1/quarantine')).body.items as { device: string; actor: string; reason: string }[];
      return l.find((x) => x.device === 'cam-07');
    });
    const elapsed = Date.now() - before;
    expect(q).toMatchObject({ actor: 'posture', reason: expect.stringContaining('camera-firmware requires firmware >=4.2.0, is 4.1.9') });
    const bundle = (await t.call('GET', '/v1/bundles/current')).body;
    expect(bundle.generation).toBeGreaterThan(down.body.generation);
    expect(bundle.ipcache).toContainEqual(expect.objectContaining({ cidr: '10.10.2.7/32', identity: 3 }));
    const p = (await t.call('GET', '/v1/posture')).body;
    expect(p.quarantineLatencies[0]).toMatchObject({ device: 'cam-07', fromGeneration: down.body.generation });
    expect(p.quarantineLatencies[0].ms).toBeLessThan(1000);
    expect(elapsed).toBeLessThan(3000);
    // remediation flows pass, other traffic from quarantine is denied
    const ok = (await t.call('POST', '/v1/trace', { from: 'cam-07', to: '10.10.8.1', protocol: 'tcp', port: 443 })).body;
    const no = (await t.call('POST', '/v1/trace', { from: 'cam-07', to: '10.10.9.1', protocol: 'tcp', port: 8883 })).body;
    if (ok.verdict !== undefined) {
      expect(ok).toMatchObject({ verdict: 'allow', policy: 'quarantine-to-updates' });
      expect(no).toMatchObject({ verdict: 'deny' });
    }

    const up = await t.call('POST', '/v1/apply', { documents: [SITE[4]], dryRun: false });
    expect(up.status).toBe(200);
    await until('cam-07 released', async () => !((await t.call('GET', '/v1/quarantine')).body.items as { device: string }[]).some((x) => x.device === 'cam-07'));
    const ev = (await t.call('GET', '/v1/events?device=cam-07')).body.items as { type: string; action: string }[];
    expect(ev.map((e) => e.action)).toEqual(expect.arrayContaining(['posture-failed', 'quarantine-add', 'posture-compliant', 'quarantine-release']));
  });

  it('keeps an operator quarantine (and its reason) when the device complies', async () => {
    expect((await t.call('POST', '/v1/quarantine', { device: 'cam-07', reason: 'stolen, investigating' })).status).toBe(200);
    await t.call('POST', '/v1/monitoring/tick');
    await t.call('POST', '/v1/monitoring/tick');
    const l = (await t.call('GET', '/v1/quarantine')).body.items as { device: string; reason: string }[];
    expect(l.find((x) => x.device === 'cam-07')).toMatchObject({ reason: 'stolen, investigating' });
    expect((await t.call('DELETE', '/v1/quarantine/cam-07')).status).toBe(200);
  });

  it('raises a scan with evidence from one device, quarantines it (onAnomaly), and nothing from steady traffic', async () => {
    const now = Date.now();
    // steady: sensor-1 publishes to the broker, learning then judged
    for (let i = 0; i < 3; i++) {
      await t.call('POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: [flow('10.10.1.11', '10.10.9.5', 8883, { srcIdentity: ids.sensors, dstIdentity: ids.broker, lastSeen: now + i * 10 })] });
    }
    await new Promise((r) => setTimeout(r, 1100));
    await t.call('POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: [flow('10.10.1.11', '10.10.9.5', 8883, { srcIdentity: ids.sensors, dstIdentity: ids.broker })] });
    expect((await t.call('GET', '/v1/anomalies?device=sensor-1')).body.items).toEqual([]);

    const scan = Array.from({ length: 40 }, (_, i) => flow('10.10.2.7', `10.10.1.${100 + i}`, 23, { srcIdentity: ids.cameras, dstIdentity: ids.sensors, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0 }));
    await t.call('POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: scan });
    const a = (await t.call('GET', '/v1/anomalies?device=cam-07')).body.items;
    expect(a).toEqual([expect.objectContaining({ device: 'cam-07', kind: 'scan', severity: 'high', onAnomaly: 'quarantine', evidence: expect.objectContaining({ distinctDestinations: 20, sample: expect.arrayContaining(['10.10.1.100:23/tcp']) }) })]);
    const q = await until('cam-07 quarantined by the detector', async () => ((await t.call('GET', '/v1/quarantine')).body.items as { device: string; actor: string }[]).find((x) => x.device === 'cam-07'));
    expect(q.actor).toBe('anomaly-detector');
    expect((await t.call('GET', '/v1/anomalies?device=sensor-1')).body.items).toEqual([]);
    await t.call('DELETE', '/v1/quarantine/cam-07');
  });

  it('takes an incident\'s action once: released by the operator, the device is not quarantined again by more anomalies of the same incident', async () => {
    // The previous test's scan opened cam-07's incident and quarantined it; the operator released it.
    expect(((await t.call('GET', '/v1/quarantine')).body.items as { device: string }[]).some((x) => x.device === 'cam-07')).toBe(false);
    const before = (await t.call('GET', '/v1/anomalies?device=cam-07')).body.items.length;
    // A second scan, after the first one's 10 s window (by the records' clock), within the incident's window.
    const later = Date.now() + 12_000;
    const scan = Array.from({ length: 40 }, (_, i) => flow('10.10.2.7', `10.10.1.${150 + i}`, 2323, { srcIdentity: ids.cameras, dstIdentity: ids.sensors, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0, firstSeen: later - 100, lastSeen: later }));
    await t.call('POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: scan });
    await until('more anomalies of cam-07', async () => (await t.call('GET', '/v1/anomalies?device=cam-07')).body.items.length > before);
    const incidents = (await t.call('GET', '/v1/incidents?device=cam-07')).body.items as { id: number; action: string; anomalies: number }[];
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ action: 'quarantine' });
    await new Promise((r) => setTimeout(r, 1000)); // a few monitoring ticks
    expect(((await t.call('GET', '/v1/quarantine')).body.items as { device: string }[]).some((x) => x.device === 'cam-07')).toBe(false);
    const audit = (await t.call('GET', '/v1/audit?limit=200')).body.items as { actor: string; action: string; target: string }[];
    expect(audit.filter((e) => e.actor === 'anomaly-detector' && /quarantine/.test(e.action) && e.target.includes('cam-07'))).toHaveLength(1);
  });

  it('summarises drops per flow into events and serves ECS JSON lines', async () => {
    await t.call('POST', '/v1/monitoring/tick');
    const lines = (await t.call('GET', '/v1/events?format=ecs&type=drop')).body as string;
    const docs = lines.trim().split('\n').map((l) => JSON.parse(l));
    const d = docs.find((x) => x.destination?.ip === '10.10.1.100');
    expect(d).toMatchObject({
      event: { kind: 'event', category: ['network'], type: ['denied', 'connection'], action: 'flow-dropped' },
      source: { ip: '10.10.2.7' },
      destination: { ip: '10.10.1.100', port: 23 },
      network: { transport: 'tcp', packets: 1 },
      observer: { name: 'gw-1' },
      rule: { name: 'default-deny' },
      labels: { src_segment: 'cameras', dst_segment: 'sensors' },
    });
  });

  it('recommends policies that allow what was observed', async () => {
    const r = (await t.call('GET', '/v1/recommend')).body;
    expect(r.documents).toContainEqual(expect.objectContaining({ kind: 'Policy', spec: expect.objectContaining({ from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['8883'] }] }) }));
    const y = await t.call('GET', '/v1/recommend?format=yaml');
    expect(y.body).toContain('kind: Policy');
    const dry = await t.call('POST', '/v1/apply', { documents: r.documents, dryRun: true });
    expect(dry.status).toBe(200);
    const unused = (await t.call('GET', '/v1/report/unused?window=1h')).body;
    expect(unused.items).toContainEqual(expect.objectContaining({ policy: 'quarantine-to-updates', index: 0 }));
  });

  it('sends the events to a real rsyslogd over TCP, parseable', async () => {
    const lines = await rs.waitFor((l) => l.some((x) => x.msgid === 'anomaly') && l.some((x) => x.msgid === 'quarantine') && l.some((x) => x.msgid === 'unknown_device'), 15_000);
    for (const l of lines.filter((x) => x.app === 'cordon')) {
      const ecs = JSON.parse(l.msg);
      expect(ecs.event.action).toBeTruthy();
      expect(l.sd).toMatch(/^\[cordon@32473 id="\d+"/);
    }
    const scan = lines.find((x) => x.msgid === 'anomaly')!;
    expect(JSON.parse(scan.msg)).toMatchObject({ event: { kind: 'alert', action: 'anomaly-scan' }, host: { name: 'cam-07' } });
  });
});
