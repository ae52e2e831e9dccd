/**
 * Issue 17, the CLI as kubectl users expect it: the real `cordon` process (from
 * source with tsx, or bin/cordon.js with CORDON_E2E_CLI=dist, as the e2e tests)
 * against a real controller on PGlite. Round trip `get -o yaml | apply -f -`,
 * the version check, describe, diff, selectors, output formats, contexts,
 * completion in bash, exit codes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { cliCommand } from '../support/site';
import { SITE } from './fixtures';
import { startTestController, type TestController } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
/** Async: the controller answers from this very process, a blocking exec would starve it. */
const sh = async (script: string, env: NodeJS.ProcessEnv) => (await promisify(execFile)('bash', ['-o', 'pipefail', '-c', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 })).stdout;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('cordon CLI, kubectl-grade (issue 17)', () => {
  let t: TestController;
  let home: string;
  let env: NodeJS.ProcessEnv;

  /** One `cordon …` process; `input` goes to its stdin. */
  const cordon = (args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [...cliCommand(), ...args], { cwd: ROOT, timeout: 60_000, env: { PATH: process.env.PATH, ...env, ...opts.env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr }),
      );
      child.stdin!.end(opts.input ?? '');
    });
  const generation = async () => (await t.call('GET', '/v1/bundles/current')).body.generation as number;

  beforeAll(async () => {
    t = await startTestController('pglite');
    home = path.join(t.dataDir, 'home');
    fs.mkdirSync(home);
    env = { HOME: home, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken };
    expect((await t.call('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
  }, 120_000);
  afterAll(async () => t?.close());

  test('get -o yaml | apply -f - changes nothing: no new generation, every kind', async () => {
    const before = await generation();
    for (const kind of ['segments', 'devices', 'policies', 'policytests']) {
      const got = await cordon(['get', kind, '-o', 'yaml']);
      expect(got.code).toBe(0);
      // What was read carries the server's fields: the apply schema takes them and ignores them.
      expect(parse(got.stdout)[0]).toMatchObject({ apiVersion: 'cordon/v1', version: 1, updatedAt: expect.any(String) });
      const back = await cordon(['apply', '-f', '-'], { input: got.stdout });
      expect({ kind, code: back.code, stderr: back.stderr }).toEqual({ kind, code: 0, stderr: '' });
      expect(back.stdout).toContain(`no change; still generation ${before}`);
      expect(back.stdout).not.toMatch(/^[+~] /m);
    }
    // Through a real shell pipe, the JSON of one document too.
    const bin = [process.execPath, ...cliCommand()].map((a) => `'${a}'`).join(' ');
    const pipe = await sh(`${bin} get device cam-07 -o json | ${bin} apply -f -`, { ...process.env, ...env });
    expect(pipe).toContain('= Device/cam-07 unchanged');
    expect(await generation()).toBe(before);
  }, 120_000);

  test('a document read at an older version than the stored one is refused (409, exit 3) and changes nothing', async () => {
    const read = (await cordon(['get', 'segment', 'cameras', '-o', 'yaml'])).stdout;
    expect(parse(read)).toMatchObject({ kind: 'Segment', version: 1 });
    // Someone else changes it meanwhile.
    const other = read.replace('10.10.2.0/24', '10.10.2.0/25').replace(/^version: 1$/m, '');
    expect((await cordon(['apply', '-f', '-'], { input: other })).code).toBe(0);
    const gen = await generation();
    const mine = read.replace('onAnomaly: alert', 'onAnomaly: quarantine');
    const stale = await cordon(['apply', '-f', '-'], { input: mine });
    expect(stale.code).toBe(3);
    expect(stale.stderr).toMatch(/Conflict: changed since it was read.*Segment\/cameras.*read at version 1, stored version 2/);
    expect(await generation()).toBe(gen);
    expect((await t.call('GET', '/v1/segments/cameras')).body).toMatchObject({ version: 2, spec: { onAnomaly: 'alert', cidrs: ['10.10.2.0/25'] } });
    // Read again, the same edit applies; and a bad version field is named.
    const fresh = (await cordon(['get', 'segment', 'cameras', '-o', 'yaml'])).stdout.replace('onAnomaly: alert', 'onAnomaly: quarantine');
    expect((await cordon(['apply', '-f', '-'], { input: fresh })).code).toBe(0);
    const bad = await cordon(['apply', '-f', '-'], { input: fresh.replace(/^version: \d+$/m, 'version: soon') });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/version is the stored version/);
  }, 60_000);

  test('describe: the document, its identity, enforcers, PolicyTests with their result, flows', async () => {
    const seg = await cordon(['describe', 'segment', 'sensors']);
    expect(seg.code).toBe(0);
    expect(seg.stdout).toMatch(/^Kind:\s+Segment$/m);
    expect(seg.stdout).toMatch(/^Identity:\s+sensors=\d+ in generation \d+$/m);
    expect(seg.stdout).toMatch(/^ {2}cidrs:\n {4}- 10\.10\.1\.0\/24$/m);
    expect(seg.stdout).toMatch(/^ {2}basics\s+0\s+sensors\s+broker\s+tcp\/8883\s+allow\s+allow\s+sensors-to-broker\s+pass$/m);
    expect(seg.stdout).toMatch(/^Flows .*:\n {2}none reported$/m);
    const dev = JSON.parse((await cordon(['describe', 'device', 'cam-07', '-o', 'json'])).stdout);
    expect(dev).toMatchObject({ document: { kind: 'Device', metadata: { name: 'cam-07' } }, identity: [{ segment: 'cameras', identity: expect.any(Number) }], enforcers: [], flows: [] });
    expect(dev.policyTests).toEqual([expect.objectContaining({ test: 'basics', index: 1, from: 'cam-07', expect: 'deny', got: 'deny', pass: true })]);
    const pol = JSON.parse((await cordon(['describe', 'policy', 'sensors-to-broker', '-o', 'json'])).stdout);
    // The cases this policy decides, not the default deny's.
    expect(pol.policyTests.map((c: { index: number }) => c.index)).toEqual([0]);
    const missing = await cordon(['describe', 'segment', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Segment "nope" does not exist/);
    expect((await cordon(['describe', 'flows', 'x'])).code).toBe(2);
  }, 60_000);

  test('diff -f: unified diff against what is stored; exit 0 same, 1 changes, 3 refused', async () => {
    const file = path.join(t.dataDir, 'diff.yaml');
    fs.writeFileSync(file, (await cordon(['get', 'segment', 'sensors', '-o', 'yaml'])).stdout);
    expect(await cordon(['diff', '-f', file])).toEqual({ code: 0, stdout: '', stderr: '' });
    const gen = await generation();
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('10.10.1.0/24', '10.10.1.0/25') + '---\napiVersion: cordon/v1\nkind: Segment\nmetadata: { name: lab }\nspec: { cidrs: [10.10.77.0/24] }\n');
    const d = await cordon(['diff', '-f', file]);
    expect(d.code).toBe(1);
    expect(d.stdout).toContain(`--- stored/Segment/sensors (version 1)\n+++ ${file}/Segment/sensors\n`);
    expect(d.stdout).toMatch(/^-\s+- 10\.10\.1\.0\/24\n\+\s+- 10\.10\.1\.0\/25$/m);
    expect(d.stdout).toContain(`--- /dev/null\n+++ ${file}/Segment/lab\n@@ -0,0 +1,`);
    expect(d.stdout).not.toMatch(/\x1b\[/); // not a terminal: no colour
    expect(await generation()).toBe(gen); // a dry run: nothing stored
    // A change a PolicyTest refuses: exit 3, the failing case named.
    const breaking = path.join(t.dataDir, 'breaking.yaml');
    fs.writeFileSync(breaking, 'apiVersion: cordon/v1\nkind: Policy\nmetadata: { name: sensors-to-broker }\nspec: { from: [sensors], to: [broker], allow: [{ protocol: tcp, ports: ["1883"] }] }\n');
    const refused = await cordon(['diff', '-f', breaking]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/basics\[0\]: sensors -> broker .*expected allow, got deny/);
    fs.writeFileSync(breaking, 'apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: x }\nspec: { cidrs: [10.0.0.999/8] }\n');
    expect((await cordon(['diff', '-f', breaking])).code).toBe(3);
  }, 60_000);

  test('-l selectors and -o table|wide|json|yaml|name; lists are bare JSON arrays everywhere', async () => {
    expect((await cordon(['get', 'devices', '-l', 'type=camera', '-o', 'name'])).stdout).toBe('device/cam-07\n');
    expect((await cordon(['get', 'devices', '-l', 'type!=camera', '-o', 'name'])).stdout).toBe('');
    expect((await cordon(['get', 'segments', '-l', 'type in (camera)', '-o', 'json'])).stdout).toBe('[]\n');
    const bad = await cordon(['get', 'devices', '-l', 'type=(']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/-l: "type=\(" is not a label requirement/);
    // Enforcers carry labels too (issue 15): none here matches.
    expect((await cordon(['get', 'enforcers', '-l', 'a=b', '-o', 'json'])).stdout).toBe('[]\n');
    expect((await cordon(['get', 'bundle', '-l', 'a=b'])).code).toBe(2);

    const table = (await cordon(['get', 'segments'])).stdout.split('\n');
    const wide = (await cordon(['get', 'segments', '-o', 'wide'])).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME\s+LABELS\s+VERSION\s+UPDATED\s+SPEC$/);
    expect(wide[0]).toMatch(/^NAME\s+LABELS\s+VERSION\s+CREATED\s+UPDATED\s+SPEC$/);
    // Aligned: every row's SPEC starts where the header's does.
    const at = table[0].indexOf('SPEC');
    for (const row of table.slice(1).filter(Boolean)) expect(row[at - 1]).toBe(' ');
    expect((await cordon(['get', 'segments', '-o', 'name'])).stdout).toBe('segment/broker\nsegment/cameras\nsegment/sensors\n');
    const docs = parse((await cordon(['get', 'policies', '-o', 'yaml'])).stdout);
    expect(Array.isArray(docs)).toBe(true);
    for (const cmd of [['get', 'segments'], ['get', 'enforcers'], ['flows'], ['get', 'devices', '--unknown'], ['events'], ['token', 'list']]) {
      const r = await cordon([...cmd, '-o', 'json']);
      expect({ cmd, code: r.code, isArray: Array.isArray(JSON.parse(r.stdout)) }).toEqual({ cmd, code: 0, isArray: true });
    }
    expect(parseAllDocuments((await cordon(['get', 'segment', 'sensors', '-o', 'yaml'])).stdout)).toHaveLength(1);
    expect((await cordon(['get', 'segments', '-o', 'xml'])).code).toBe(2);
    expect((await cordon(['trace', '--from', 'sensors', '--to', 'broker', '--port', '8883', '-o', 'name'])).code).toBe(2);
    expect(parse((await cordon(['trace', '--from', 'sensors', '--to', 'broker', '--port', '8883', '-o', 'yaml'])).stdout)).toMatchObject({ verdict: 'allow', policy: 'sensors-to-broker' });
  }, 120_000);

  test('version: client, controller and enforcers', async () => {
    const v = JSON.parse((await cordon(['version', '-o', 'json'])).stdout);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(v).toEqual({ client: { version: pkg.version, node: process.version }, controller: { version: pkg.version, node: process.version }, enforcers: [] });
    expect((await cordon(['--version'])).stdout).toBe(`${pkg.version}\n`);
    const down = await cordon(['version'], { env: { CORDON_SERVER: 'http://127.0.0.1:1' } });
    expect(down.code).toBe(4);
    expect(down.stdout).toContain(`client: ${pkg.version}`);
  }, 60_000);

  test('contexts: set-context, use-context, get-contexts, --context over CORDON_SERVER', async () => {
    const noEnv = { CORDON_SERVER: '', CORDON_TOKEN: '' };
    const ctxEnv = { ...noEnv, HOME: home };
    const tokenFile = path.join(home, 'site-a.token');
    fs.writeFileSync(tokenFile, t.adminToken + '\n', { mode: 0o600 });
    expect((await cordon(['config', 'set-context', 'site-a', '--server', t.url, '--token-file', '~/site-a.token'], { env: ctxEnv })).code).toBe(0);
    expect((await cordon(['config', 'set-context', 'dead', '--server', 'http://127.0.0.1:1'], { env: ctxEnv })).code).toBe(0);
    const file = path.join(home, '.config', 'cordon', 'config.yaml');
    expect(parse(fs.readFileSync(file, 'utf8'))).toEqual({
      'current-context': 'site-a',
      contexts: [
        { name: 'site-a', server: t.url, 'token-file': '~/site-a.token' },
        { name: 'dead', server: 'http://127.0.0.1:1' },
      ],
    });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect((await cordon(['get', 'devices', '-o', 'name'], { env: ctxEnv })).stdout).toBe('device/cam-07\n');
    expect((await cordon(['get', 'devices', '--context', 'dead'], { env: ctxEnv })).code).toBe(4);
    expect((await cordon(['config', 'use-context', 'dead'], { env: ctxEnv })).code).toBe(0);
    expect((await cordon(['config', 'current-context'], { env: ctxEnv })).stdout).toBe('dead\n');
    const listed = (await cordon(['config', 'get-contexts'], { env: ctxEnv })).stdout;
    expect(listed).toMatch(/^CURRENT\s+NAME\s+SERVER/);
    expect(listed).toMatch(/^\*\s+dead\s+http:\/\/127\.0\.0\.1:1/m);
    expect((await cordon(['get', 'devices'], { env: ctxEnv })).code).toBe(4);
    // CORDON_SERVER beats the current context; --context beats CORDON_SERVER.
    expect((await cordon(['get', 'devices', '-o', 'name'], { env: { HOME: home, CORDON_SERVER: t.url } })).code).toBe(0);
    expect((await cordon(['get', 'devices', '--context', 'dead'], { env: { HOME: home } })).code).toBe(4);
    expect((await cordon(['get', 'devices', '-o', 'name'], { env: { ...ctxEnv, CORDON_CONTEXT: 'site-a' } })).stdout).toBe('device/cam-07\n');
    const unknown = await cordon(['get', 'devices', '--context', 'nope'], { env: ctxEnv });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no context "nope" in .*config\.yaml \(contexts: site-a, dead\)/);
    expect((await cordon(['config', 'set-context', 'bad', '--server', 'ftp://x'], { env: ctxEnv })).code).toBe(2);
    expect(parse(fs.readFileSync(file, 'utf8')).contexts).toHaveLength(2);
  }, 120_000);

  test('a context with a CA reaches a controller behind https (a TLS proxy with a certificate of a private CA)', async () => {
    const dir = path.join(t.dataDir, 'tls');
    fs.mkdirSync(dir);
    const ossl = (...a: string[]) => promisify(execFile)('openssl', a, { cwd: dir });
    await ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=site test CA');
    await ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
    fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await ossl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '1', '-extfile', 'ext.cnf');
    const https = await import('node:https');
    const http = await import('node:http');
    const target = new URL(t.url);
    const proxy = https.createServer({ key: fs.readFileSync(path.join(dir, 'srv.key')), cert: fs.readFileSync(path.join(dir, 'srv.pem')) }, (req, res) => {
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `https://localhost:${(proxy.address() as { port: number }).port}`;
    try {
      const ctxEnv = { HOME: home, CORDON_SERVER: '', CORDON_TOKEN: '', CORDON_CONFIG: path.join(dir, 'config.yaml') };
      fs.writeFileSync(path.join(dir, 'token'), t.adminToken);
      expect((await cordon(['config', 'set-context', 'tls', '--server', url, '--ca', path.join(dir, 'ca.pem'), '--token-file', path.join(dir, 'token')], { env: ctxEnv })).code).toBe(0);
      expect(await cordon(['get', 'devices', '-o', 'name'], { env: ctxEnv })).toEqual({ code: 0, stdout: 'device/cam-07\n', stderr: '' });
      // Without the CA the certificate is not trusted: unreachable, and said why.
      expect((await cordon(['config', 'set-context', 'tls', '--server', url, '--ca', ''], { env: ctxEnv })).code).toBe(0);
      const untrusted = await cordon(['get', 'devices', '--server', url], { env: { ...ctxEnv, CORDON_TOKEN: t.adminToken } });
      expect(untrusted.code).toBe(4);
      expect(untrusted.stderr).toMatch(/cannot reach the controller at https:\/\/localhost:\d+: .*(CERT|certificate|SELF_SIGNED|VERIFY)/i);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  }, 60_000);

  test('completion: the bash script loads and completes commands, kinds, names and flag values', async () => {
    const script = path.join(t.dataDir, 'cordon.bash');
    const gen = await cordon(['completion', 'bash'], { env: { CORDON_COMPLETE_BIN: [process.execPath, ...cliCommand()].map((a) => `'${a}'`).join(' ') } });
    expect(gen.code).toBe(0);
    fs.writeFileSync(script, gen.stdout);
    const complete = async (...words: string[]) =>
      (await sh(`source '${script}'; COMP_WORDS=(cordon ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _cordon_complete; printf '%s\\n' "\${COMPREPLY[@]}"`, { ...process.env, ...env }))
        .split('\n')
        .filter(Boolean);
    expect(await complete('des')).toEqual(['describe']);
    expect(await complete('get', 'pol')).toEqual(['policies', 'policytests']);
    expect(await complete('get', 'devices', '')).toEqual(['cam-07']);
    expect(await complete('describe', 'segment', 's')).toEqual(['sensors']);
    expect(await complete('get', 'segments', '-o', '')).toEqual(['table', 'wide', 'json', 'yaml', 'name']);
    expect(await complete('flows', '--verd')).toEqual(['--verdict']);
    expect(await complete('events', '--fol')).toEqual([]); // the hidden alias is not offered
    expect(await complete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    // zsh and fish scripts are printed (their shells are not on this host: only their shape is checked).
    expect((await cordon(['completion', 'zsh'])).stdout).toMatch(/^#compdef cordon\n/);
    expect((await cordon(['completion', 'fish'])).stdout).toContain("complete -c cordon -f -a '(__cordon_complete)'");
    expect((await cordon(['completion', 'tcsh'])).code).toBe(2);
  }, 120_000);

  test('exit codes: 2 usage, 3 refused, 4 unreachable, 1 other', async () => {
    expect((await cordon(['get'])).code).toBe(2);
    expect((await cordon(['get', 'segments', '--nope'])).code).toBe(2);
    expect((await cordon(['apply', '-f', path.join(t.dataDir, 'missing.yaml')])).code).toBe(2);
    const invalid = await cordon(['apply', '-f', '-'], { input: 'apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: x }\nspec: { cidrs: [nope] }\n' });
    expect(invalid.code).toBe(3);
    const failing = await cordon(['apply', '-f', '-'], {
      input: 'apiVersion: cordon/v1\nkind: PolicyTest\nmetadata: { name: never }\nspec: [{ from: sensors, to: broker, protocol: tcp, port: 22, expect: allow }]\n',
    });
    expect(failing.code).toBe(3);
    expect(failing.stderr).toMatch(/Policy tests failed/);
    expect((await cordon(['get', 'segments'], { env: { CORDON_SERVER: 'http://127.0.0.1:1' } })).code).toBe(4);
    expect((await cordon(['get', 'segment', 'nope'])).code).toBe(1);
    expect((await cordon(['flows', '--protocol', 'xyz'])).code).toBe(2);
    // The README documents them.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/### Exit codes[\s\S]*\| 2 \|[\s\S]*\| 3 \|[\s\S]*\| 4 \|/);
  }, 60_000);
});
