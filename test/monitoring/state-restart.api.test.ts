// SPDX-License-Identifier: Apache-2.0
/**
 * Issue 14, embedded store: what a controller learned from flow records (an
 * unknown device, the traffic in clear) is in its PGlite store, not only in
 * memory. Flow batches go in over the real ReportFlows gRPC stream with an
 * enrolled enforcer's certificate; the controller is closed and started again
 * on the same data dir, and `GET /v1/unknown-devices` (cordon get devices
 * --unknown) and `GET /v1/report/plaintext` (cordon report plaintext) still
 * list the same device and counts.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { enrollEnforcer } from '../integrity/enroll';
import { SITE } from '../api/fixtures';
import { until } from '../support/wait';
import { reportFlows, unknownSensorFlows } from './state-fixtures';

const UNKNOWN = '10.10.1.77';

async function start(dataDir: string): Promise<RunningController> {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write; // the first-start token banner
  try {
    return await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'error' });
  } finally {
    process.stderr.write = w;
  }
}

describe('monitoring state in the embedded store', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-state-'));
  let ctl: RunningController | undefined;
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('an unknown device and the plaintext report learned from gRPC flow batches survive a restart on the same data dir', async () => {
    ctl = await start(dataDir);
    const token = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    const call = async (c: RunningController, p: string, body?: unknown) => {
      const r = await fetch(c.url + p, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      return { status: r.status, body: (await r.json()) as any };
    };
    expect((await call(ctl, '/v1/apply', { documents: SITE })).status).toBe(200);
    const ids = (await call(ctl, '/v1/bundles/current')).body.identities;
    const gw = await enrollEnforcer(ctl, token, 'gw-state');
    const client = gw.client();
    try {
      await reportFlows(client, 'gw-state', unknownSensorFlows(ids, UNKNOWN));
    } finally {
      client.close();
    }
    const unknown = async (c: RunningController) => (await call(c, '/v1/unknown-devices')).body.items.find((u: { address: string }) => u.address === UNKNOWN);
    const before = await until('the unknown sensor listed', () => unknown(ctl!));
    expect(before).toMatchObject({ enforcer: 'gw-state', segment: 'sensors', flows: 3, packets: 17, bytes: 2560, denied: 1 });
    expect(before.tried).toEqual(['10.10.9.1:1883/tcp allow', '10.10.9.1:8883/tcp allow', '10.10.9.1:23/tcp deny']);
    const reportBefore = (await call(ctl, '/v1/report/plaintext')).body;
    const deviceBefore = reportBefore.devices.find((d: { addresses: string[] }) => d.addresses.includes(UNKNOWN));
    expect(deviceBefore).toMatchObject({ device: null, segment: 'sensors', flows: 2, flowsInClear: 1, flowsEncrypted: 1, bytesInClear: 500, clearTo: ['10.10.9.1:1883/tcp'] });

    await ctl.close(); // the last deltas are flushed at shutdown
    ctl = await start(dataDir);
    // Listed straight after the start: loaded from the store, not learned again.
    expect(await unknown(ctl)).toEqual(before);
    const reportAfter = (await call(ctl, '/v1/report/plaintext')).body;
    expect(reportAfter.devices.find((d: { addresses: string[] }) => d.addresses.includes(UNKNOWN))).toEqual(deviceBefore);
    expect(reportAfter.total).toEqual(reportBefore.total);
    expect(reportAfter.segments).toEqual(reportBefore.segments);
    expect(Date.parse(reportAfter.since)).toBeLessThanOrEqual(Date.parse(reportBefore.since) + 5000);
  }, 120_000);
});
