/** The CLI in-process (runCli) against a real controller on PGlite. */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { SITE_YAML } from './fixtures';
import { startTestController, type TestController } from './harness';

const until = async (ok: () => Promise<boolean>, ms: number) => {
  for (const end = Date.now() + ms; !(await ok()); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

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

  it('applies a file with empty documents as read (they are no documents), and the version each names still goes with it (a stale one is refused)', async () => {
    const file = path.join(t.dataDir, 'empties.yaml');
    const seg = (name: string, cidr: string, extra = '') => `apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: ${name} }\n${extra}spec: { cidrs: [${cidr}] }\n`;
    fs.writeFileSync(file, `---\n${seg('emp1', '10.77.0.0/16')}---\n# nothing here\n---\n${seg('emp2', '10.78.0.0/16')}---\n`);
    const r = await cli('apply', '-f', file, '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).documents.map((d: { name: string }) => d.name)).toEqual(['emp1', 'emp2']);
    fs.writeFileSync(file, seg('emp1', '10.79.0.0/16', 'version: 99\n'));
    const stale = await cli('apply', '-f', file);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/Segment\/emp1 \(document 0\): read at version 99, stored version 1/);
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

  it('says "cannot listen" only for a listen error: an EACCES reading a file is reported as itself', async () => {
    // Write-only for everyone, root included: reading it is refused with EACCES by open(2).
    const r = await cli('audit', 'verify', '--offline', '--file', '/proc/sys/vm/compact_memory');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EACCES: permission denied, open '\/proc\/sys\/vm\/compact_memory'/);
    expect(r.stderr).not.toMatch(/cannot listen|--http/);
  });

  it('mud import: a file it cannot translate is refused (3), an unreadable one is a usage error (2)', async () => {
    const notMud = path.join(t.dataDir, 'not-mud.json');
    fs.writeFileSync(notMud, JSON.stringify({ hello: 'world' }));
    const refused = await cli('mud', 'import', notMud);
    expect({ code: refused.code, said: refused.stderr.length > 0 }).toEqual({ code: 3, said: true });
    const notJson = path.join(t.dataDir, 'not-json.json');
    fs.writeFileSync(notJson, '{ nope');
    expect((await cli('mud', 'import', notJson)).code).toBe(3);
    const missing = await cli('mud', 'import', path.join(t.dataDir, 'no-such-mud.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read/);
  });

  it('events -w -o ecs prints each event once, also one that arrives between two polls', async () => {
    let n = 0;
    const newEvent = async () => {
      n++;
      const flow = { src: `10.99.0.${n}`, dst: '10.99.9.1', sport: 40000, dport: 8883, protocol: 6, family: 4, srcIdentity: 0, dstIdentity: 0, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', ruleId: 0, packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0, firstSeen: Date.now() - 100, lastSeen: Date.now(), ifindex: 4 };
      expect((await t.call('POST', '/v1/monitoring/flows', { enforcer: 'gw-ecs', flows: [flow] })).status).toBe(202);
    };
    // In front of the controller: every answer to GET /v1/events waits until one more event is stored
    // (an unknown device), so each poll's next request sees an event its previous answer did not have.
    const proxy = http.createServer((req, res) => {
      void (async () => {
        const up = await fetch(t.url + req.url, { method: req.method, headers: { authorization: String(req.headers.authorization ?? '') } });
        const body = Buffer.from(await up.arrayBuffer());
        if (req.url?.startsWith('/v1/events') && n < 6) await newEvent();
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'text/plain' });
        res.end(body);
      })().catch((err) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    try {
      await newEvent();
      const after = String(Math.max(0, ...((await t.call('GET', '/v1/events?limit=1000')).body.items as { id: number }[]).map((e) => e.id)) - 1);
      let stop!: () => void;
      const stopped = new Promise<string>((r) => (stop = () => r('SIGINT')));
      const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const watching = runCli(['events', '-w', '-o', 'ecs', '--type', 'unknown_device', '--after', after, '--interval', '100'], { env: { ...env, CORDON_SERVER: url }, stopSignal: () => stopped });
      await until(async () => n >= 6, 15_000);
      await new Promise((r) => setTimeout(r, 600)); // two more polls: the last event printed too
      stop();
      const r = await watching;
      expect(r.code).toBe(0);
      const ids = r.stdout.trim().split('\n').map((l) => JSON.parse(l).event.id as string);
      expect(ids.length).toBe(6);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await new Promise((r) => proxy.close(() => r(undefined)));
    }
  }, 30_000);
});
