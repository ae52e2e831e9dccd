// SPDX-License-Identifier: Apache-2.0
/**
 * Anomalies and SIEM export end to end, with packets: `cordon controller
 * --learning-window 3s --syslog tcp://127.0.0.1:PORT` and `cordon enforcer
 * --netns` as processes, a real rsyslogd on loopback (Debian's rsyslog),
 * and three devices behind the gateway:
 *   - steady-1 connects to the server's allowed port all along: no anomaly;
 *   - scanner-1 behaves like steady-1 while the baseline learns, then tries
 *     40 ports of the server within a second: a scan, with evidence;
 *   - burster-1 tries one denied port 40 times: a denied burst, with evidence.
 * The anomalies (and the rest of the event stream) reach rsyslogd as RFC 5424
 * messages whose MSG is ECS JSON.
 *
 * Needs root, bpffs, the built addon and rsyslogd (scripts/setup.sh installs it).
 */
import * as path from 'node:path';
import type { Topology } from '../../scripts/topology';
import { startRsyslog, RSYSLOGD, type Received, type TestRsyslog } from '../monitoring/rsyslog';
import { lastJson, TestSite, until } from '../support/site';

const PROBE = path.join(__dirname, 'probe-agent.js');
const topology: Topology = {
  prefix: 'cma',
  net: 237,
  sites: [
    { name: 'steady', index: 1 },
    { name: 'scanner', index: 2 },
    { name: 'burster', index: 3 },
    { name: 'server', index: 4 },
  ],
};
const LEARNING_WINDOW_MS = 3000;

type AnomalyItem = { device: string; kind: string; severity: string; evidence: Record<string, any>; at: string };

const root = process.getuid?.() === 0;
(root && RSYSLOGD ? describe : describe.skip)('monitoring e2e: anomalies from real traffic, events at a real rsyslogd (root)', () => {
  let s: TestSite;
  let rs: TestRsyslog;
  const A = (n: string) => s.addr(n);
  const device = (name: string, siteName: string) => ({
    apiVersion: 'cordon/v1',
    kind: 'Device',
    metadata: { name, labels: { type: 'sensor' } },
    spec: { addresses: [A(siteName).v4], mac: A(siteName).mac },
  });
  const anomalies = async (dev: string): Promise<AnomalyItem[]> => {
    const r = await s.cli(['get', 'anomalies', '--device', dev, '--output', 'json']);
    if (r.code !== 0) throw new Error(`cordon get anomalies failed (${r.code}): ${r.stderr}`);
    const v = JSON.parse(r.stdout);
    return Array.isArray(v) ? v : v.items;
  };

  beforeAll(async () => {
    rs = await startRsyslog();
    s = await TestSite.start({
      topology,
      enforcer: 'gw-mon-an',
      controllerArgs: ['--learning-window', `${LEARNING_WINDOW_MS / 1000}s`, '--syslog', `tcp://127.0.0.1:${rs.tcpPort}`],
      controllerEnv: { CORDON_MONITORING_TICK: '250ms' },
    });
    const { generation } = await s.apply([
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'field' }, spec: { cidrs: [A('steady').subnet4, A('scanner').subnet4, A('burster').subnet4] } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [A('server').subnet4] } },
      device('steady-1', 'steady'),
      device('scanner-1', 'scanner'),
      device('burster-1', 'burster'),
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'field-to-servers' }, spec: { from: ['field'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } },
    ]);
    await s.waitEnforced(generation);
    await s.serve('server', 7000);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
    await rs?.stop();
  }, 60_000);

  test('mon_e2e_3_a_scan_and_a_denied_burst_raise_anomalies_with_evidence_steady_traffic_none', async () => {
    const server = A('server').v4;
    // The controller took the flag: baselines learn for 3 s.
    expect((await s.api('GET', '/v1/monitoring/settings')).body).toMatchObject({ learningWindowMs: LEARNING_WINDOW_MS });

    // Steady traffic from steady-1 for the whole test (every 250 ms, bounded to 60 round trips).
    const steady = s.spawnIn('steady', ['node', PROBE, 'probe', server, '7000', '250', '60', '500']);
    let steadyOut = '';
    steady.stdout!.on('data', (d) => (steadyOut += d));
    // The scanner and the burster behave while they learn.
    for (let i = 0; i < 3; i++) {
      expect(await s.connect('scanner', server, 7000)).toBe(true);
      expect(await s.connect('burster', server, 7000)).toBe(true);
    }
    // Past every learning window (counted from each device's first flow).
    await until('the baselines to finish learning', async () => {
      const b = await Promise.all(['steady-1', 'scanner-1', 'burster-1'].map((d) => s.api('GET', `/v1/baselines/${d}`)));
      return b.every((x) => x.status === 200 && x.body.learning === false);
    }, 15_000, 250);

    // A vertical scan: 40 ports of the server, 16 attempts at a time, each given 300 ms.
    const scan = lastJson((await s.runIn('scanner', ['node', PROBE, 'scan', server, '7100', '7139', '300'], 30_000)).stdout);
    expect(scan).toEqual({ attempted: 40, ok: 0 });
    // A burst: 40 attempts at one denied port.
    const burst = lastJson((await s.runIn('burster', ['node', PROBE, 'burst', server, '7001', '40', '300'], 30_000)).stdout);
    expect(burst).toEqual({ attempted: 40, ok: 0 });

    const scanA = await until('a scan anomaly for scanner-1', async () => (await anomalies('scanner-1')).find((a) => a.kind === 'scan'), 15_000, 300);
    expect(scanA).toMatchObject({
      device: 'scanner-1',
      kind: 'scan',
      severity: 'high',
      evidence: expect.objectContaining({ type: 'vertical', distinctDestinations: 1, windowSeconds: 10, sample: expect.arrayContaining([expect.stringMatching(new RegExp(`^${server.replace(/\./g, '\\.')}:71\\d\\d/tcp$`))]) }),
    });
    // Refused attempts to four new ports of one host: a scan from the early rule (earlyScanDistinct, issue 18).
    expect(scanA.evidence).toMatchObject({ early: true, distinctTargets: 4 });
    const burstA = await until('a denied burst for burster-1', async () => (await anomalies('burster-1')).find((a) => a.kind === 'denied_burst'), 15_000, 300);
    expect(burstA).toMatchObject({ device: 'burster-1', kind: 'denied_burst', evidence: expect.objectContaining({ sample: expect.arrayContaining([`${server}:7001/tcp policy`]) }) });
    expect(burstA.evidence.deniedAttempts).toBeGreaterThanOrEqual(30);
    // Few targets: the denied port, and the allowed one if its learning flows fell in the same window.
    expect(burstA.evidence.distinctTargets).toBeGreaterThanOrEqual(1);
    expect(burstA.evidence.distinctTargets).toBeLessThanOrEqual(2);
    // The burster only knocked on one door: no scan from it; its first denied attempt to a port
    // it never used is evidence too (issue 18: denied attempts teach), then the burst.
    expect((await anomalies('burster-1')).map((a) => a.kind)).toEqual(['new_port', 'denied_burst']);

    // Let the steady device keep going past the anomalies, then: nothing from it.
    await until('the steady probe to run past the learning window', () => steadyOut.split('\n').filter(Boolean).length >= 40, 20_000, 250);
    steady.kill('SIGKILL');
    const steadyResults = steadyOut.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ok: boolean });
    expect(steadyResults.every((r) => r.ok)).toBe(true);
    await new Promise((r) => setTimeout(r, 1000)); // the last flow batches
    expect(await anomalies('steady-1')).toEqual([]);
    const base = (await s.api('GET', '/v1/baselines/steady-1')).body;
    expect(base).toMatchObject({ learning: false, peers: 1, ports: 1 });
  }, 120_000);

  test('mon_e2e_4_security_events_reach_rsyslogd_as_rfc5424_with_ecs_json', async () => {
    // the TCP drop among the drops: the gateway's own MLD reports to ff02::16 are denied too (one follows an XDP attach on veth)
    const isTcpDrop = (x: Received) => x.app === 'cordon' && x.msgid === 'drop' && x.msg.includes('"transport":"tcp"');
    const want = (l: Received[]) => l.some((x) => x.msgid === 'anomaly' && x.msg.includes('anomaly-scan')) && l.some((x) => x.msgid === 'anomaly' && x.msg.includes('anomaly-denied-burst')) && l.some(isTcpDrop);
    const lines = (await rs.waitFor(want, 20_000)).filter((x) => x.app === 'cordon');
    for (const l of lines) {
      // RFC 5424 as rsyslogd parsed it: version 1, PRI = facility local0..7 or security (13) * 8 + severity.
      expect(l.version).toBe('1');
      expect(l.pri).toBeGreaterThanOrEqual(0);
      expect(l.pri).toBeLessThan(192);
      expect(l.sd).toMatch(/^\[cordon@32473 id="\d+" type="[a-z_]+" action="[a-z-]+"/);
      const ecs = JSON.parse(l.msg);
      expect(ecs).toMatchObject({ '@timestamp': expect.any(String), event: { action: expect.any(String), kind: expect.any(String) } });
    }
    const scan = JSON.parse(lines.find((x) => x.msgid === 'anomaly' && x.msg.includes('anomaly-scan'))!.msg);
    expect(scan).toMatchObject({ event: { kind: 'alert', action: 'anomaly-scan' }, host: { name: 'scanner-1' } });
    const drop = JSON.parse(lines.find(isTcpDrop)!.msg);
    expect(drop).toMatchObject({ event: { action: 'flow-dropped' }, observer: { name: 'gw-mon-an' }, network: { transport: 'tcp' }, destination: { ip: A('server').v4 } });
    // The enforcer's enrollment is an event too (from the audit log).
    expect(lines.some((x) => x.msgid === 'enrollment' || /enroll/.test(x.msg))).toBe(true);
    // A bad --syslog stops the controller at boot with the flag named.
    const bad = await s.cli(['controller', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', '--data-dir', `${s.dir}/bad`, '--syslog', 'http://127.0.0.1:514'], 30_000);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--syslog must be udp://HOST:PORT or tcp://HOST:PORT');
  }, 60_000);
});
