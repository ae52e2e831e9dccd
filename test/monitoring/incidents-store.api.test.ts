// SPDX-License-Identifier: Apache-2.0
/**
 * Incidents are kept in the store (issue 18): two controllers on one PostgreSQL
 * list the same incidents, and a controller restarted on the database goes on
 * with an open incident (the device's next anomaly joins it, its action is not
 * taken again) instead of forgetting it. Flow records go in through POST
 * /v1/monitoring/flows, as the control channel hands them over.
 */
import { startPostgres, type TestPostgres } from '../support/postgres';
import { startTestController, type TestController } from '../api/harness';
import { until } from '../support/wait';

const SITE = [
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'cameras' }, spec: { cidrs: ['10.10.2.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'cam-07' }, spec: { addresses: ['10.10.2.7'] } },
];

const denied = (dst: string, dport: number, ids: Record<string, number>, laterMs = 0) => ({
  src: '10.10.2.7',
  dst,
  sport: 40000,
  dport,
  protocol: 6,
  family: 4,
  srcIdentity: ids.cameras,
  dstIdentity: ids.sensors,
  verdict: 'VERDICT_DENY',
  reason: 'DROP_REASON_POLICY',
  ruleId: 0,
  packetsFwd: 1,
  bytesFwd: 60,
  packetsRev: 0,
  bytesRev: 0,
  firstSeen: Date.now() + laterMs - 10,
  lastSeen: Date.now() + laterMs,
  ifindex: 4,
});
const usual = (ids: Record<string, number>) => ({ ...denied('10.10.1.5', 8883, ids), verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', packetsRev: 1, bytesRev: 60 });
const scan = (net: number, ids: Record<string, number>, laterMs = 0) => Array.from({ length: 30 }, (_, i) => denied(`10.10.1.${net + i}`, 23, ids, laterMs));

type IncidentItem = { id: number; device: string; kinds: string[]; anomalies: number; open: boolean; action: string; updatedAt: string; evidence: { scans: unknown[] } };

describe('incidents in the store', () => {
  let pg: TestPostgres;
  let databaseUrl: string;
  let a: TestController;
  let b: TestController;

  beforeAll(async () => {
    pg = await startPostgres();
    databaseUrl = await pg.createDatabase('incidents');
    a = await startTestController('postgres', { pg, databaseUrl });
    b = await startTestController('postgres', { pg, databaseUrl });
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.stop();
  });

  it('a second controller on the database lists an incident; a restarted controller keeps it open and groups into it', async () => {
    // The first controller's admin token: the others found an admin in the database and made none.
    const token = a.adminToken;
    const call = (t: TestController, m: string, p: string, body?: unknown) => t.call(m, p, body, { token });
    expect((await call(a, 'POST', '/v1/apply', { documents: SITE, dryRun: false })).status).toBe(200);
    const ids = (await call(a, 'GET', '/v1/bundles/current')).body.identities;
    // A controller's site view follows the store a moment after a change: cam-07 is a device once it has a baseline.
    const known = (t: TestController) =>
      until('cam-07 known to the controller', async () => {
        await call(t, 'POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: [usual(ids)] });
        return (await call(t, 'GET', '/v1/baselines/cam-07')).status === 200;
      });
    await known(a);

    expect((await call(a, 'POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: scan(100, ids) })).status).toBeLessThan(300);
    const onA: IncidentItem[] = (await call(a, 'GET', '/v1/incidents?device=cam-07')).body.items;
    expect(onA).toEqual([expect.objectContaining({ device: 'cam-07', kinds: ['scan'], anomalies: 1, open: true, action: 'alert' })]);
    // b raised nothing itself: it reads the store.
    expect((await call(b, 'GET', '/v1/incidents?device=cam-07')).body.items).toEqual(onA);
    const anomalyOnA = (await call(a, 'GET', '/v1/anomalies?device=cam-07')).body.items;
    expect(anomalyOnA.map((x: { incident: number }) => x.incident)).toEqual([onA[0].id]);

    // a restarts on the same database: the incident is still there, still open, and cam-07's next scan joins it
    // (a scan of its own: after the first one's window, which cam-07's stored baseline remembers across the restart).
    await a.close();
    a = await startTestController('postgres', { pg, databaseUrl });
    expect((await call(a, 'GET', '/v1/incidents?device=cam-07')).body.items).toEqual(onA);
    await known(a);
    expect((await call(a, 'POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: scan(150, ids, 30_000) })).status).toBeLessThan(300);
    const after: IncidentItem[] = (await call(a, 'GET', '/v1/incidents?device=cam-07')).body.items;
    expect(after).toEqual([expect.objectContaining({ id: onA[0].id, kinds: ['scan'], anomalies: 2, open: true })]);
    expect(after[0].evidence.scans).toHaveLength(2);
    expect((await call(b, 'GET', '/v1/incidents')).body.items).toEqual(after);
    const anomalies = (await call(a, 'GET', '/v1/anomalies?device=cam-07')).body.items;
    expect(anomalies.map((x: { incident: number }) => x.incident)).toEqual([onA[0].id, onA[0].id]);

    // b's own clock says the incident is quiet (b never saw it move): the store keeps it open, as a updated it since.
    await b.ctl.store.incidents.close([onA[0].id], new Date(Date.parse(after[0].updatedAt) - 60_000).toISOString());
    expect((await call(a, 'GET', '/v1/incidents?device=cam-07')).body.items[0]).toMatchObject({ id: onA[0].id, open: true });
  }, 120_000);
});
