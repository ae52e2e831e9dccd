/** The CLI in-process (runCli) against a real controller on PGlite. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { SITE_YAML } from './fixtures';
import { startTestController, type TestController } from './harness';

describe('cordon CLI', () => {
  let t: TestController;
  let env: NodeJS.ProcessEnv;
  const cli = (...argv: string[]) => runCli(argv, { env });

  beforeAll(async () => {
    t = await startTestController('pglite');
    env = { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken };
  });
  afterAll(async () => t?.close());

  it('applies a file (dry run stores nothing), gets, traces, deletes', async () => {
    const file = path.join(t.dataDir, 'site.yaml');
    fs.writeFileSync(file, SITE_YAML);
    const dry = await cli('apply', '-f', file, '--dry-run');
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toContain('+ Segment/sensors created');
    expect(dry.stdout).toContain('nothing was stored');
    expect(JSON.parse((await cli('get', 'segments', '-o', 'json')).stdout)).toEqual([]);

    const r = await cli('apply', '-f', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('applied: generation 1');
    const segs = JSON.parse((await cli('get', 'segments', '--output', 'json')).stdout);
    expect(segs.map((s: { metadata: { name: string } }) => s.metadata.name)).toEqual(['broker', 'sensors']);
    expect((await cli('get', 'segments')).stdout).toMatch(/^NAME\s+LABELS/);
    expect(JSON.parse((await cli('get', 'bundle', '-o', 'json')).stdout)).toMatchObject({ generation: 1 });

    const tr = JSON.parse((await cli('trace', '--from', 'sensors', '--to', 'broker', '--protocol', 'tcp', '--port', '8883', '--output', 'json')).stdout);
    expect(tr).toMatchObject({ verdict: 'allow', policy: 'sensors-to-broker', from: { segment: 'sensors', device: null }, to: { segment: 'broker' } });

    const del = await cli('delete', 'policy', 'sensors-to-broker');
    expect(del.code).toBe(0);
    expect(del.stdout).toContain('- Policy/sensors-to-broker deleted');
  });

  it('names file, document, field and reason on bad input, exits non-zero, changes nothing', async () => {
    const file = path.join(t.dataDir, 'bad.yaml');
    fs.writeFileSync(file, 'apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: ok }\nspec: { cidrs: [10.1.0.0/16] }\n---\napiVersion: cordon/v1\nkind: Segment\nmetadata: { name: nope }\nspec: { cidrs: [10.0.0.999/8] }\n');
    const r = await cli('apply', '-f', file);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(/document 1/);
    expect(r.stderr).toMatch(/spec\.cidrs/);
    expect((await cli('get', 'segments', 'ok')).code).not.toBe(0);
    const missing = await cli('apply', '-f', path.join(t.dataDir, 'nope.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.yaml: ENOENT/);
  });

  it('creates tokens, verifies and exports the audit log', async () => {
    const e = JSON.parse((await cli('token', 'create', '--output', 'json')).stdout);
    expect(Object.keys(e).sort()).toEqual(['caCertHash', 'expiresAt', 'join', 'token']);
    expect(e.join).toBe(`${e.token}.${e.caCertHash.replace('sha256:', '')}`);
    const v = await cli('token', 'create', '--role', 'viewer', '--output', 'json');
    const viewer = JSON.parse(v.stdout);
    expect(Date.parse(viewer.expiresAt) - Date.now()).toBeGreaterThan(89 * 86400_000); // API tokens expire: 90d by default
    const denied = await runCli(['apply', '-f', path.join(t.dataDir, 'site.yaml')], { env: { ...env, CORDON_TOKEN: viewer.token } });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/Forbidden/);
    expect(await cli('audit', 'verify')).toMatchObject({ code: 0, stdout: expect.stringMatching(/intact/) });
    const lines = (await cli('audit', 'export')).stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    expect(JSON.parse(lines[0])).toHaveProperty('hash');
  });

  it('reports an unreachable server and a bad flag clearly', async () => {
    const r = await runCli(['get', 'segments'], { env: { CORDON_SERVER: 'http://127.0.0.1:1', CORDON_TOKEN: 'x', HOME: t.dataDir } });
    // 4: unreachable, apart from refusals (3) and other failures (1) since issue 17.
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot reach the controller at http:\/\/127\.0\.0\.1:1/);
    const bad = await runCli(['controller', '--http', 'nonsense', '--data-dir', t.dataDir], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--http must be HOST:PORT/);
  });
});
