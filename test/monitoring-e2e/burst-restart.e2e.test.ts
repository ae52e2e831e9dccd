// SPDX-License-Identifier: Apache-2.0
/**
 * Issue 18, with packets through a namespace gateway and the product's volume
 * defaults (10 s buckets, 10 s / 1 min / 5 min windows): `cordon controller
 * --learning-window 20s` and `cordon enforcer --netns` as processes
 * (test/support/site.ts), two devices doing periodic round trips to their
 * server with ±30 % jitter in timing and size:
 *   - steady-1 keeps at it all along: nothing, ever;
 *   - bulk-1, once learnt, streams 20x its usual rate to the same server and
 *     port: a volume anomaly within 5 s of the stream's start (the burst
 *     detector judges every record, whatever the bucket);
 * then the controller restarts on the same data directory, and bulk-1's
 * incident is still listed (`cordon get incidents` reads the store).
 *
 * Needs root, bpffs and the built addon (npm run build:bpf build:native).
 */
import * as path from 'node:path';
import type { Topology } from '../../scripts/topology';
import { lastJson, TestSite, until } from '../support/site';

const PROBE = path.join(__dirname, 'probe-agent.js');
const topology: Topology = {
  prefix: 'cmb',
  net: 249,
  sites: [
    { name: 'steady', index: 1 },
    { name: 'bulk', index: 2 },
    { name: 'server', index: 3 },
  ],
};
const DEVICES = ['steady-1', 'bulk-1'];
/** Round trips of 4 KB ±30 % each way every 500 ms ±30 %: about 16 KB/s with the echo. */
const EVERY_MS = 500;
const BYTES = 4000;
const USUAL_PER_S = ((2 * BYTES) / EVERY_MS) * 1000;

type AnomalyItem = { device: string; kind: string; evidence: Record<string, any>; at: string; incident: number };
type IncidentItem = { id: number; device: string; kinds: string[]; anomalies: number; open: boolean };

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('monitoring e2e: a 20x burst within 5 s, jittered traffic silent, incidents across a restart (root)', () => {
  let s: TestSite;
  const A = (n: string) => s.addr(n);
  const json = async (args: string[]) => {
    const r = await s.cli([...args, '--output', 'json']);
    if (r.code !== 0) throw new Error(`cordon ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const anomalies = (dev: string): Promise<AnomalyItem[]> => json(['get', 'anomalies', '--device', dev]);
  const incidents = (dev: string): Promise<IncidentItem[]> => json(['get', 'incidents', '--device', dev]);

  beforeAll(async () => {
    s = await TestSite.start({ topology, enforcer: 'gw-mon-burst', controllerArgs: ['--learning-window', '20s'], controllerEnv: { CORDON_MONITORING_TICK: '250ms' } });
    const { generation } = await s.apply([
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'field' }, spec: { cidrs: [A('steady').subnet4, A('bulk').subnet4] } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [A('server').subnet4] } },
      ...DEVICES.map((d) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: d }, spec: { addresses: [A(d.replace('-1', '')).v4], mac: A(d.replace('-1', '')).mac } })),
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'to-servers' }, spec: { from: ['field'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } },
    ]);
    await s.waitEnforced(generation);
    await s.serve('server', 7000);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
  }, 60_000);

  test('mon_e2e_6_burst_within_5s_jitter_silent_incident_survives_restart', async () => {
    const server = A('server').v4;
    const probes = ['steady', 'bulk'].map((site) => s.spawnIn(site, ['node', PROBE, 'jitter', server, '7000', String(EVERY_MS), '240', String(BYTES), '2000']));
    try {
      await until('both baselines to finish learning', async () => {
        const b = await Promise.all(DEVICES.map((d) => s.api('GET', `/v1/baselines/${d}`)));
        return b.every((x) => x.status === 200 && x.body.learning === false);
      }, 40_000, 250);
      // Judged for a while on its usual traffic first.
      await new Promise((r) => setTimeout(r, 10_000));
      expect(await anomalies('bulk-1')).toEqual([]);

      // bulk-1: 20x its usual rate (19x more, echoed) to the same server and port, for 15 s.
      const stream = s.runIn('bulk', ['node', PROBE, 'stream', server, '7000', String(Math.round((19 * USUAL_PER_S) / 2)), '15'], 30_000);
      const vol = await until('a volume anomaly for bulk-1', async () => (await anomalies('bulk-1')).find((a) => a.kind === 'volume'), 15_000, 250);
      const streamed = lastJson((await stream).stdout);
      expect(streamed.echoed).toBeGreaterThan(0);
      // Within seconds, before a 10 s bucket could close: the burst detector (CUSUM), not a window's.
      expect(vol.evidence).toMatchObject({ traffic: 'local', detector: 'burst', bytes: expect.any(Number), thresholdBytes: expect.any(Number) });
      expect(Date.parse(vol.at) - streamed.t0).toBeLessThan(5000);
      expect((await anomalies('bulk-1')).filter((a) => a.kind === 'volume')).toHaveLength(1);
    } finally {
      for (const p of probes) p.kill('SIGKILL');
    }
    // steady-1 kept its jittered round trips through all of it: nothing.
    expect(await anomalies('steady-1')).toEqual([]);
    expect(await incidents('steady-1')).toEqual([]);

    // The controller restarts on its data directory: bulk-1's incident is still there.
    const before = await incidents('bulk-1');
    expect(before).toEqual([expect.objectContaining({ device: 'bulk-1', kinds: ['volume'], anomalies: 1 })]);
    await s.ctl!.stop('SIGTERM');
    await s.startController();
    expect(await incidents('bulk-1')).toEqual(before);
    expect((await anomalies('bulk-1')).map((a) => a.incident)).toEqual([before[0].id]);
  }, 180_000);
});
