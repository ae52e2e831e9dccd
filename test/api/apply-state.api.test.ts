/**
 * The apply path keeps the site compiled in memory (apps/controller/src/apply/site-state.ts):
 * refused applies and dry runs leave it exactly as stored, a restarted controller
 * rebuilds the same bundle from the store, and every generation reads back whole
 * although the store keeps only deltas between snapshots.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startController, type RunningController } from '../../apps/controller/src/main';
import type { Bundle } from '../../model/generation/bundle';
import { bundleHash } from '../../model/generation/digest';
import { SITE } from './fixtures';

describe('apply state across refusals, dry runs and restarts (PGlite)', () => {
  let dataDir: string;
  let ctl: RunningController | undefined;
  let token = '';

  const start = async () => {
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'error' });
    } finally {
      process.stderr.write = stderr;
    }
    token ||= fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  };
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(ctl!.url + p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const current = async () => (await call('GET', '/v1/bundles/current')).body as Bundle;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-apply-state-'));
    await start();
  });
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the compiled site as stored through refusals and dry runs, and rebuilds it after a restart', async () => {
    expect((await call('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
    const g1 = await current();

    // A dry run adding a segment, a policy with two rules and a device: nothing moves.
    const extra = [
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'printers' }, spec: { cidrs: ['10.10.5.0/24'] } },
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'print' }, spec: { from: ['sensors'], to: ['printers'], allow: [{ protocol: 'tcp', ports: ['631'] }, { protocol: 'udp', ports: ['161'] }] } },
    ];
    const dry = await call('POST', '/v1/apply', { documents: extra, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, changed: true, generation: 2 });
    expect(await current()).toEqual(g1);

    // A change a PolicyTest refuses: nothing moves.
    const broken = { ...SITE[4], spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['1883'] }] } };
    expect((await call('POST', '/v1/apply', { documents: [broken] })).status).toBe(422);
    // A reference error: nothing moves either.
    expect((await call('DELETE', '/v1/segments/broker')).status).toBe(400);
    expect(await current()).toEqual(g1);

    // Now for real: the generation after the refusals is what a fresh controller would make.
    const applied = await call('POST', '/v1/apply', { documents: extra });
    expect(applied.body).toMatchObject({ changed: true, generation: 2 });
    expect((await call('DELETE', '/v1/policies/print')).body).toMatchObject({ generation: 3 });
    const g3 = await current();
    expect(g3.generation).toBe(3);
    expect(bundleHash(g3)).toBe(g3.hash);
    expect(g3.identities.printers).toBeDefined();

    await ctl!.close();
    ctl = undefined;
    await start();
    // Read back from the store (deltas over the first snapshot), every generation whole.
    expect(await current()).toEqual(g3);
    expect((await call('GET', '/v1/bundles/1')).body).toEqual(g1);
    expect((await call('GET', '/v1/bundles/2')).body).toMatchObject({ generation: 2, identities: { printers: g3.identities.printers } });
    // The site rebuilt from the store gives the stored bundle: an unchanged apply keeps its hash, a real one follows on.
    const same = await call('POST', '/v1/apply', { documents: SITE });
    expect(same.body).toMatchObject({ changed: false, generation: 3, hash: g3.hash });
    const next = await call('POST', '/v1/apply', { documents: [{ ...extra[1], spec: { ...extra[1].spec, allow: [{ protocol: 'tcp', ports: ['9100'] }] } }] });
    expect(next.body).toMatchObject({ changed: true, generation: 4 });
    const g4 = await current();
    expect(bundleHash(g4)).toBe(g4.hash);
    expect(g4.rules.filter((r) => r.policy === 'sensors-to-broker')).toEqual(g3.rules.filter((r) => r.policy === 'sensors-to-broker'));
  });
});
