// SPDX-License-Identifier: Apache-2.0
/**
 * Issue 18's misses, with packets through a namespace gateway: `cordon
 * controller --learning-window 8s` and `cordon enforcer --netns` as processes
 * (test/support/site.ts), volume on 1 s / 2 s / 4 s windows (PUT
 * /v1/monitoring/settings), and six devices behind the gateway:
 *   - steady-1 keeps its usual round trips all along: nothing, ever;
 *   - bulk-1 behaves, then sends 4 MB at once to its usual server: a volume
 *     anomaly, judged right after the short learning window;
 *   - slow-1 probes 30 addresses over 40 s: one scan (from its fourth refused attempt), not 30 new_peer;
 *   - audit-1 (a segment in audit mode) scans 100 ports of the server: one
 *     incident (scan and at most a few new_port), its port baseline not
 *     blinded (a new port well after the scan is still news);
 *   - knock-1 tries one denied address once: a new_peer (verdict deny).
 *
 * Needs root, bpffs and the built addon (npm run build:bpf build:native).
 */
import * as path from 'node:path';
import type { Topology } from '../../scripts/topology';
import { lastJson, TestSite, until } from '../support/site';

const PROBE = path.join(__dirname, 'probe-agent.js');
const topology: Topology = {
  prefix: 'cmi',
  net: 243,
  sites: [
    { name: 'steady', index: 1 },
    { name: 'bulk', index: 2 },
    { name: 'slow', index: 3 },
    { name: 'audit', index: 4 },
    { name: 'knock', index: 5 },
    { name: 'server', index: 6 },
  ],
};
const LEARNING_WINDOW_MS = 8000;
const DEVICES = ['steady-1', 'bulk-1', 'slow-1', 'audit-1', 'knock-1'];

type AnomalyItem = { device: string; kind: string; severity: string; evidence: Record<string, any>; at: string; incident: number };
type IncidentItem = { id: number; device: string; kinds: string[]; anomalies: number; severity: string; action: string; evidence: Record<string, any[]> };

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('monitoring e2e: incidents, volume, slow and audit-mode scans, denied novelty (root)', () => {
  let s: TestSite;
  const A = (n: string) => s.addr(n);
  const device = (name: string, siteName: string) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name }, spec: { addresses: [A(siteName).v4], mac: A(siteName).mac } });
  const json = async (args: string[]) => {
    const r = await s.cli([...args, '--output', 'json']);
    if (r.code !== 0) throw new Error(`cordon ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const anomalies = (dev: string): Promise<AnomalyItem[]> => json(['get', 'anomalies', '--device', dev]);
  const incidents = (dev: string): Promise<IncidentItem[]> => json(['get', 'incidents', '--device', dev]);
  const probe = (site: string, every: number, count: number) => s.spawnIn(site, ['node', PROBE, 'probe', A('server').v4, '7000', String(every), String(count), '500']);

  beforeAll(async () => {
    s = await TestSite.start({
      topology,
      enforcer: 'gw-mon-inc',
      controllerArgs: ['--learning-window', `${LEARNING_WINDOW_MS / 1000}s`],
      controllerEnv: { CORDON_MONITORING_TICK: '250ms' },
    });
    expect((await s.api('PUT', '/v1/monitoring/settings', { interval: '1s', volumeWindows: ['1s', '2s', '4s'] })).status).toBe(200);
    const { generation } = await s.apply([
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'field' }, spec: { cidrs: [A('steady').subnet4, A('bulk').subnet4, A('slow').subnet4, A('knock').subnet4] } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'trial' }, spec: { cidrs: [A('audit').subnet4], mode: 'audit' } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [A('server').subnet4] } },
      ...DEVICES.map((d) => device(d, d.replace('-1', ''))),
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'to-servers' }, spec: { from: ['field', 'trial'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } },
    ]);
    await s.waitEnforced(generation);
    await s.serve('server', 7000);
    await s.serve('server', 7001);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
  }, 60_000);

  test('mon_e2e_5_volume_burst_slow_scan_audit_scan_one_incident_denied_new_peer_steady_silent', async () => {
    const server = A('server').v4;
    // Every device behaves while it learns (round trips every 250 ms); steady-1 and bulk-1 go on all along.
    const probes = ['steady', 'bulk', 'slow', 'audit', 'knock'].map((site) => probe(site, 250, site === 'steady' || site === 'bulk' ? 400 : 60));
    await until('every baseline to finish learning, and volume to be judged on every window', async () => {
      const b = await Promise.all(DEVICES.map((d) => s.api('GET', `/v1/baselines/${d}`)));
      return b.every((x) => x.status === 200 && x.body.learning === false) && b[1].body.volume.tracks[1].windows.every((w: { judged: boolean }) => w.judged);
    }, 30_000, 250);
    // The short learning window governs volume too: judged seconds after it, not after minutes of fixed buckets.
    const bulkBase = (await s.api('GET', '/v1/baselines/bulk-1')).body;
    expect(Date.now() - Date.parse(bulkBase.learningUntil)).toBeLessThan(15_000);
    for (const p of probes.slice(2)) p.kill('SIGKILL');

    // bulk-1: 4 MB (echoed) to its usual server and port: a volume anomaly within seconds.
    const sentAt = Date.now();
    const sent = lastJson((await s.runIn('bulk', ['node', PROBE, 'send', server, '7000', String(4 << 20), '10000'], 20_000)).stdout);
    expect(sent.echoed).toBe(4 << 20);
    const vol = await until('a volume anomaly for bulk-1', async () => (await anomalies('bulk-1')).find((a) => a.kind === 'volume'), 10_000, 250);
    expect(vol.evidence).toMatchObject({ traffic: 'local', bytes: expect.any(Number), thresholdBytes: expect.any(Number) });
    expect(vol.evidence.bytes).toBeGreaterThan(vol.evidence.thresholdBytes);
    expect(Date.parse(vol.at) - sentAt).toBeLessThan(5000);

    // knock-1: one denied attempt to an address it never spoke to: evidence at once.
    expect(await s.connect('knock', server.replace(/\.\d+$/, '.77'), 22, 300)).toBe(false);
    const knock = await until('a new_peer for knock-1', async () => (await anomalies('knock-1')).find((a) => a.kind === 'new_peer'), 10_000, 250);
    expect(knock.evidence).toMatchObject({ verdict: 'deny', port: 22 });

    // audit-1: 100 ports of the server, in audit mode (they pass, nothing listens): one incident.
    const scan = lastJson((await s.runIn('audit', ['node', PROBE, 'scan', server, '7100', '7199', '300'], 30_000)).stdout);
    expect(scan.attempted).toBe(100);
    await until('a scan for audit-1', async () => (await anomalies('audit-1')).some((a) => a.kind === 'scan'), 10_000, 250);

    // slow-1: 30 addresses over 40 s (one every 1.33 s): a scan, from the slow window.
    const slow = s.runIn('slow', ['node', PROBE, 'sweep', server.replace(/\.\d+$/, ''), '100', '129', '8883', '1333', '500'], 60_000);
    // Meanwhile, well after audit-1's scan, a port it never used is still news (the scan did not fill its baseline).
    await new Promise((r) => setTimeout(r, 11_000));
    expect(await s.connect('audit', server, 7001)).toBe(true);
    const fresh = await until('a new_port for 7001 from audit-1', async () => (await anomalies('audit-1')).find((a) => a.kind === 'new_port' && a.evidence.port === 7001), 10_000, 250);
    expect(fresh.evidence.verdict).toBe('audit');

    expect(lastJson((await slow).stdout)).toMatchObject({ attempted: 30 });
    const slowScan = await until('a scan for slow-1', async () => (await anomalies('slow-1')).find((a) => a.kind === 'scan'), 10_000, 250);
    // Refused attempts to four new hosts on one port within 10 s: a scan from the early rule, not after twenty.
    expect(slowScan.evidence).toMatchObject({ type: 'horizontal', windowSeconds: 10, early: true, distinctDestinations: 4 });
    const slowAll = await anomalies('slow-1');
    expect(slowAll.filter((a) => a.kind === 'scan')).toHaveLength(1);
    expect(slowAll.filter((a) => a.kind === 'new_peer').length).toBeLessThanOrEqual(3);

    // Incidents, not alarms: audit-1's scan and what came with it are one incident, one action.
    const auditAll = await anomalies('audit-1');
    expect(auditAll.filter((a) => a.kind === 'scan')).toHaveLength(1);
    expect(auditAll.filter((a) => a.kind === 'new_port').length).toBeLessThanOrEqual(4);
    const inc = await incidents('audit-1');
    expect(inc).toHaveLength(1);
    expect(inc[0]).toMatchObject({ device: 'audit-1', severity: 'high', action: 'alert', kinds: expect.arrayContaining(['scan', 'new_port']), anomalies: auditAll.length });
    expect(inc[0].evidence.scans[0]).toMatchObject({ type: 'vertical', distinctDestinations: 1, verdict: 'audit' });
    expect(new Set(auditAll.map((a) => a.incident))).toEqual(new Set([inc[0].id]));
    expect(await incidents('slow-1')).toHaveLength(1);
    const table = await s.cli(['get', 'incidents']);
    expect(table.stdout).toMatch(/audit-1 +high +new_port,scan|audit-1 +high +scan/);

    // steady-1 kept going through all of it: nothing.
    probes[0].kill('SIGKILL');
    probes[1].kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await anomalies('steady-1')).toEqual([]);
    expect(await incidents('steady-1')).toEqual([]);
  }, 180_000);
});
