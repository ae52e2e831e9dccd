// SPDX-License-Identifier: Apache-2.0
/**
 * Issue 14, embedded store: the observed flow tuples and rule uses that
 * `cordon recommend` and `cordon report unused` read are in the controller's
 * PGlite store, not only in memory. Flow batches go in over the real
 * ReportFlows gRPC stream with an enrolled enforcer's certificate; the
 * controller is closed and started again on the same data dir, and
 * `GET /v1/recommend` (JSON and YAML) and `GET /v1/report/unused` give the
 * same answers, observedSince included, before any new flow.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { enrollEnforcer } from '../integrity/enroll';
import { until } from '../support/wait';
import { brokerFlows, OBSERVED_SITE } from './observed-fixtures';
import { reportFlows } from './state-fixtures';

async function start(dataDir: string): Promise<RunningController> {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write; // the first-start token banner
  try {
    return await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'error' });
  } finally {
    process.stderr.write = w;
  }
}

describe('observed flows and rule uses in the embedded store', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-observed-'));
  let ctl: RunningController | undefined;
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('recommend and report unused give the same answers after a restart on the same data dir', async () => {
    ctl = await start(dataDir);
    const token = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    const call = async (c: RunningController, p: string, body?: unknown) => {
      const r = await fetch(c.url + p, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      const text = await r.text();
      return { status: r.status, text, body: (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
    };
    expect((await call(ctl, '/v1/apply', { documents: OBSERVED_SITE })).status).toBe(200);
    const bundle = (await call(ctl, '/v1/bundles/current')).body;
    // Nothing observed yet: both allow rules are unused.
    expect((await call(ctl, '/v1/report/unused')).body.items.map((i: { policy: string }) => i.policy)).toEqual(['sensors-to-broker', 'sensors-to-cameras']);

    const gw = await enrollEnforcer(ctl, token, 'gw-observed');
    const client = gw.client();
    try {
      await reportFlows(client, 'gw-observed', brokerFlows(bundle, '10.10.1.41'));
    } finally {
      client.close();
    }
    const answers = async (c: RunningController) => ({
      recommend: (await call(c, '/v1/recommend?includeDenied=true')).body,
      yaml: (await call(c, '/v1/recommend?format=yaml')).text,
      unused: (await call(c, '/v1/report/unused')).body,
    });
    await until('the rule use learned', async () => (await call(ctl!, '/v1/report/unused')).body.items.length === 1);
    const before = await answers(ctl);
    expect(before.unused.items).toEqual([expect.objectContaining({ policy: 'sensors-to-cameras', index: 0, lastUsed: null, packets: 0 })]);
    expect(before.recommend.flows).toBe(2); // the allowed tuple and the denied one
    expect(before.yaml).toContain('8883');

    await ctl.close(); // the last deltas are flushed at shutdown
    ctl = await start(dataDir);
    // Straight after the start: loaded from the store, not learned again.
    const after = await answers(ctl);
    expect(after).toEqual(before);
    // The rule use kept its counters: 14 packets of the two allowed flows.
    const rows = await ctl.store.sql.query<{ packets: unknown }>("select packets::int as packets from rule_uses where policy = 'sensors-to-broker'");
    expect(rows).toEqual([{ packets: 14 }]);
  }, 120_000);
});
