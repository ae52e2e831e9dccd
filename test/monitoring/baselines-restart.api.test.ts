// SPDX-License-Identifier: Apache-2.0
/**
 * Issue 14, embedded store: a device's baseline (the peers and ports it uses,
 * its volume, its learning window) is in the PGlite store, not only in memory.
 * The controller runs with a 3 s learning window; cam-07's flows go in over the
 * real ReportFlows gRPC stream until its learning is over; the controller is
 * closed and started again on the same data dir: `GET /v1/baselines/cam-07`
 * shows the same baseline, still past learning (no relearning), and the first
 * flow to a new peer raises new_peer at once while a known peer raises nothing.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { enrollEnforcer } from '../integrity/enroll';
import { SITE } from '../api/fixtures';
import { until } from '../support/wait';
import { cameraFlows, reportFlows } from './state-fixtures';

const LEARNING_WINDOW_MS = 3000;

async function start(dataDir: string): Promise<RunningController> {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write; // the first-start token banner
  try {
    return await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'error', learningWindow: `${LEARNING_WINDOW_MS / 1000}s` });
  } finally {
    process.stderr.write = w;
  }
}

describe('device baselines in the embedded store', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-baselines-'));
  let ctl: RunningController | undefined;
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a baseline learned from gRPC flow batches survives a restart: not learned again, a new peer is new_peer at once', async () => {
    ctl = await start(dataDir);
    const token = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    const call = async (c: RunningController, p: string, body?: unknown) => {
      const r = await fetch(c.url + p, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      return { status: r.status, body: (await r.json()) as any };
    };
    expect((await call(ctl, '/v1/apply', { documents: SITE })).status).toBe(200);
    const ids = (await call(ctl, '/v1/bundles/current')).body.identities;
    const gw = await enrollEnforcer(ctl, token, 'gw-baselines');
    // The enforcer's certificate holds across the restart (the CA is in the data dir); the address changes.
    const send = async (c: RunningController, peers: string[]) => {
      const client = gw.client(c.grpcAddress);
      try {
        await reportFlows(client, 'gw-baselines', cameraFlows(ids, peers));
      } finally {
        client.close();
      }
    };
    const newPeers = async (c: RunningController) => (await call(c, '/v1/anomalies?device=cam-07&kind=new_peer')).body.items as { evidence: { peer: string } }[];

    await send(ctl, ['10.10.2.20', '10.10.2.21']);
    const learning = await until('cam-07 has a baseline', async () => (await call(ctl!, '/v1/baselines/cam-07')).status === 200 && (await call(ctl!, '/v1/baselines/cam-07')).body);
    expect(learning).toMatchObject({ learning: true, peers: 2, ports: 1 });
    await new Promise((r) => setTimeout(r, Date.parse(learning.learningUntil) - Date.now() + 200));
    await send(ctl, ['10.10.2.21']); // a known peer, past learning
    const before = (await call(ctl, '/v1/baselines/cam-07')).body;
    expect(before).toMatchObject({ learning: false, peers: 2, ports: 1, firstSeen: learning.firstSeen });
    expect(await newPeers(ctl)).toEqual([]);

    await ctl.close(); // the last baselines are flushed at shutdown
    ctl = await start(dataDir);
    // There straight after the start, before any flow: loaded from the store, not learned again.
    const after = (await call(ctl, '/v1/baselines/cam-07')).body;
    expect(after).toEqual({ ...before, volume: after.volume });
    expect(after.volume.tracks.map((t: { traffic: string; windows: { samples: number }[] }) => t.windows.map((w) => w.samples))).toEqual(before.volume.tracks.map((t: { windows: { samples: number }[] }) => t.windows.map((w) => w.samples)));

    await send(ctl, ['10.10.2.20', '10.10.2.99']); // a known peer and a new one
    const raised = await until('new_peer raised for the new peer', async () => {
      const items = await newPeers(ctl!);
      return items.length ? items : undefined;
    });
    expect(raised.map((a) => a.evidence.peer)).toEqual(['10.10.2.99']);
    expect((await call(ctl, '/v1/baselines/cam-07')).body).toMatchObject({ learning: false, firstSeen: before.firstSeen });
  }, 120_000);
});
