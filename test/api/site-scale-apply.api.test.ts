// SPDX-License-Identifier: Apache-2.0
/**
 * A site goes in one apply: a YAML file of several megabytes through the real
 * CLI (sent gzipped) is one transaction, one generation; a body over the
 * controller's --max-body is refused with a message that says how to raise it,
 * and changes nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import YAML from 'yaml';
import { runCli } from '../../apps/cli/src/cli';
import { makeScaleDocs } from '../../apps/controller/src/compiler/bench-compile';
import { startTestController, type TestController } from './harness';

const SIZE = { segments: 300, devices: 3000, policies: 3000 };

describe('site-scale apply', () => {
  let t: TestController;
  let small: TestController;
  let file: string;

  beforeAll(async () => {
    t = await startTestController('pglite');
    small = await startTestController('pglite', undefined, { maxBody: '256KiB' });
    file = path.join(t.dataDir, 'site.yaml');
    fs.writeFileSync(file, makeScaleDocs(SIZE).map((d) => YAML.stringify(d)).join('---\n'));
  });
  afterAll(async () => {
    await t?.close();
    await small?.close();
  });

  it('applies a site of more than 1 MiB in one cordon apply -f, as one generation', async () => {
    expect(fs.statSync(file).size).toBeGreaterThan(1024 * 1024);
    const r = await runCli(['apply', '-f', file, '-o', 'json'], { env: { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ changed: true, generation: 1 });
    expect(out.documents).toHaveLength(SIZE.segments + SIZE.devices + SIZE.policies);
    const segs = await t.call('GET', '/v1/segments?limit=500');
    expect(segs.status).toBe(200);
    expect(segs.body.items).toHaveLength(SIZE.segments);
  }, 60_000);

  it('accepts gzip request bodies over REST', async () => {
    const body = zlib.gzipSync(JSON.stringify({ documents: makeScaleDocs({ segments: 2, devices: 2, policies: 1 }), dryRun: true }));
    const res = await fetch(`${t.url}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json', 'content-encoding': 'gzip' }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ dryRun: true });
  });

  it('refuses a body over --max-body with how to raise it, and stores nothing', async () => {
    const r = await runCli(['apply', '-f', file], { env: { HOME: small.dataDir, CORDON_SERVER: small.url, CORDON_TOKEN: small.adminToken } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/larger than the controller's limit of 256 KiB; raise it with cordon controller --max-body/);
    const segs = await small.call('GET', '/v1/segments');
    expect(segs.body.items).toEqual([]);
  }, 60_000);

  it('refuses a malformed --max-body at start', async () => {
    await expect(startTestController('pglite', undefined, { maxBody: '2 parsecs' })).rejects.toThrow(/--max-body must be a size/);
  });
});
