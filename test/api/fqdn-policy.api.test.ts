// SPDX-License-Identifier: Apache-2.0
/**
 * Policy by DNS name through the real `cordon` executable (bin/cordon.js after
 * `tsc -p tsconfig.build.json`) and its HTTP API, on PGlite:
 *   - a PolicyTest whose `to` is `{ fqdn: NAME }` (or the plain name) holds on
 *     apply; a failing one refuses the apply; a bad name is refused by field;
 *   - /v1/openapi.json describes a Policy's `to` entries with the pattern rules;
 *   - `--dns-resolver` (flag, controller.yaml, CORDON_DNS_RESOLVER) is in the
 *     bundle for segments without spec.dns, a restart with other addresses
 *     makes an audited generation, and a bad address stops the controller;
 *   - `cordon report unused` counts an fqdn allow rule that decided packets as
 *     used and lists the one that never did with its patterns.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { until } from '../support/wait';
import { ensureCliBuilt } from '../support/cli-build';
import { exited, startControllerProcess } from '../support/controller-process';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/cordon.js');

const SITE = `apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.10.1.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: resolvers }
spec: { cidrs: [10.10.53.0/24], dns: [10.10.53.2] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-cloud }
spec:
  from: [plugs]
  to: [ { fqdn: api.vendor.com }, { fqdn: "*.iot.vendor.com" } ]
  allow: [ { protocol: tcp, ports: ["443"] }, { protocol: udp, ports: ["123"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-bad }
spec:
  from: [plugs]
  to: [ { fqdn: bad.iot.vendor.com } ]
  deny: [ { protocol: any } ]
`;

const policyTest = (cases: string) => `apiVersion: cordon/v1\nkind: PolicyTest\nmetadata: { name: cloud-by-name }\nspec:\n${cases}`;

interface Controller {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}


function spawnController(dataDir: string, args: string[], env: NodeJS.ProcessEnv) {
  return spawn(process.execPath, [BIN, 'controller', '--data-dir', dataDir, '--log-level', 'warn', ...args], {
    cwd: ROOT,
    env: { ...process.env, HOME: dataDir, CORDON_DNS_RESOLVER: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** CORDON_DNS_RESOLVER emptied: the caller's shell says nothing of resolvers unless a test does. */
const startController = (dataDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Controller> =>
  startControllerProcess(dataDir, null, args, { CORDON_DNS_RESOLVER: '', ...env });

/** A controller that must refuse to start: its exit code and what it said. */
async function refusedStart(dataDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawnController(dataDir, ['--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', ...args], env);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stderr };
}

async function stop(c: Controller | undefined) {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill('SIGTERM');
  await exited(c.child);
}

describe('policy by DNS name through bin/cordon.js', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-fqdn-api-'));
  const configFile = path.join(dataDir, 'controller.yaml');
  let ctl: Controller | undefined;
  let token = '';

  const cli = (...argv: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...argv], { cwd: ROOT, env: { ...process.env, HOME: dataDir, CORDON_SERVER: ctl!.url, CORDON_TOKEN: token } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(ctl!.url + p, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const file = (name: string, text: string) => {
    const f = path.join(dataDir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const current = async () => (await call('GET', '/v1/bundles/current')).body as { generation: number; dnsResolvers?: string[]; identities: Record<string, number>; rules: { ruleId: number; policy: string; action: string; index: number }[] };

  beforeAll(async () => {
    ensureCliBuilt();
    fs.writeFileSync(configFile, 'dns-resolver: [192.0.2.53]\n');
    ctl = await startController(dataDir, ['--config', configFile]);
    token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
    const r = await cli('apply', '-f', file('site.yaml', SITE));
    expect(r).toMatchObject({ code: 0 });
  }, 180_000);

  afterAll(async () => {
    await stop(ctl);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('applies a PolicyTest whose to is { fqdn: NAME } or the plain name, and refuses one that fails, listing the expectation', async () => {
    const ok = await cli(
      'apply',
      '-f',
      file(
        'test-ok.yaml',
        policyTest(`  - { from: plugs, to: { fqdn: API.vendor.com. }, protocol: tcp, port: 443, expect: allow }
  - { from: plugs, to: { fqdn: cam.iot.vendor.com }, protocol: udp, port: 123, expect: allow }
  - { from: plugs, to: { fqdn: bad.iot.vendor.com }, protocol: tcp, port: 443, expect: deny }
  - { from: plugs, to: { fqdn: nobody-resolved.example.org }, protocol: tcp, port: 443, expect: deny }
  - { from: plugs, to: cam.iot.vendor.com, protocol: tcp, port: 443, expect: allow }
`),
      ),
    );
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const stored = JSON.parse((await cli('get', 'policytests', 'cloud-by-name', '-o', 'json')).stdout);
    expect(stored.spec[0].to).toEqual({ fqdn: 'api.vendor.com' });

    const failing = await cli('apply', '-f', file('test-fail.yaml', policyTest('  - { from: plugs, to: { fqdn: bad.iot.vendor.com }, protocol: tcp, port: 443, expect: allow }\n')));
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toMatch(/bad\.iot\.vendor\.com/);
    expect(failing.stderr).toMatch(/expected allow, got deny/);
    const api = await call('POST', '/v1/apply', { documents: [{ apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name: 'cloud-by-name' }, spec: [{ from: 'plugs', to: { fqdn: 'bad.iot.vendor.com' }, protocol: 'tcp', port: 443, expect: 'allow' }] }], dryRun: true });
    expect(api.status).toBe(422);
    expect(api.body.failures).toEqual([expect.objectContaining({ test: 'cloud-by-name', index: 0, to: 'bad.iot.vendor.com', expected: 'allow', got: 'deny', policy: 'no-bad' })]);
    // Still the stored test: nothing changed.
    expect(JSON.parse((await cli('get', 'policytests', 'cloud-by-name', '-o', 'json')).stdout).spec).toHaveLength(5);
  });

  it('traces to { fqdn: NAME } as to the plain name, and refuses a malformed object', async () => {
    const plain = await call('POST', '/v1/trace', { from: '10.10.1.5', to: 'api.vendor.com', protocol: 'tcp', port: 443 });
    const obj = await call('POST', '/v1/trace', { from: '10.10.1.5', to: { fqdn: 'api.vendor.com' }, protocol: 'tcp', port: 443 });
    expect(plain.status).toBe(200);
    expect({ ...obj.body, at: null }).toEqual({ ...plain.body, at: null });
    expect(obj.body).toMatchObject({ verdict: 'allow', policy: 'plugs-to-cloud' });
    const bad = await call('POST', '/v1/trace', { from: '10.10.1.5', to: { fqdn: 'api.vendor.com', extra: 1 }, protocol: 'tcp', port: 443 });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/\{ fqdn: NAME \}/);
  });

  it('refuses a bad { fqdn } in a PolicyTest with the pattern error, naming the file, document and field', async () => {
    const f = file('test-bad.yaml', policyTest('  - { from: plugs, to: { fqdn: "api..vendor.com" }, protocol: tcp, port: 443, expect: allow }\n  - { from: plugs, to: { fqdn: "*.iot.vendor.com" }, protocol: tcp, port: 443, expect: allow }\n'));
    const r = await cli('apply', '-f', f);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(/spec\[0\]\.to\.fqdn: "api\.\.vendor\.com" has an empty label/);
    expect(r.stderr).toMatch(/spec\[1\]\.to\.fqdn: "\*\.iot\.vendor\.com" is a pattern; name a DNS name it matches/);
    const plain = await call('POST', '/v1/apply', { documents: [{ apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name: 'plain-bad' }, spec: [{ from: 'plugs', to: 'api..vendor.com', protocol: 'tcp', port: 443, expect: 'allow' }] }] });
    expect(plain.status).toBe(400);
    expect(JSON.stringify(plain.body)).toMatch(/spec\[0\]\.to.*api\.\.vendor\.com is not a device, a segment, an address or a DNS name: .*empty label/);
  });

  it('describes a Policy\'s to entries in /v1/openapi.json as a segment name or { fqdn: PATTERN } with the pattern rules', async () => {
    const res = await fetch(`${ctl!.url}/v1/openapi.json`);
    const doc = (await res.json()) as any;
    const s = doc.components.schemas;
    expect(s.PolicySpec.properties.to.items).toEqual({ $ref: '#/components/schemas/PolicyTarget' });
    expect(s.PolicyTarget.oneOf[1]).toEqual({ $ref: '#/components/schemas/FqdnTarget' });
    expect(s.FqdnPattern.description).toMatch(/at most 253 characters.*label at most 63/);
    const re = new RegExp(s.FqdnPattern.pattern);
    expect(['api.vendor.com', '*.iot.vendor.com'].every((p) => re.test(p))).toBe(true);
    expect(['*foo.com', 'a..b.com', '*.com', 'a.' + 'x'.repeat(64) + '.com', Array.from({ length: 60 }, () => 'abcd').join('.')].some((p) => re.test(p))).toBe(false);
    expect(s.PolicyTestCase.properties.to.oneOf[1]).toEqual({ $ref: '#/components/schemas/FqdnTarget' });
  });

  it('reports an fqdn allow rule that never decided a packet as unused, naming its patterns, and not the one that did', async () => {
    const b = await current();
    const rule = b.rules.find((r) => r.policy === 'plugs-to-cloud' && r.action === 'allow' && r.index === 0)!;
    const flow = {
      src: '10.10.1.7', dst: '203.0.113.80', sport: 40000, dport: 443, protocol: 6, family: 4,
      srcIdentity: b.identities.plugs, dstIdentity: b.identities['fqdn:api.vendor.com'],
      verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', ruleId: rule.ruleId,
      packetsFwd: 10, bytesFwd: 1000, packetsRev: 8, bytesRev: 800, firstSeen: Date.now() - 1000, lastSeen: Date.now(), ifindex: 4,
    };
    const report = async () => JSON.parse((await cli('report', 'unused', '--window', '1h', '-o', 'json')).stdout) as { generation: number; items: { policy: string; index: number; fqdn?: string[]; packets: number }[] };
    // Before any packet both allows of the policy are unused, each naming its patterns.
    const before = await report();
    expect(before.items.filter((i) => i.policy === 'plugs-to-cloud').map((i) => [i.index, i.fqdn])).toEqual([
      [0, ['api.vendor.com', '*.iot.vendor.com']],
      [1, ['api.vendor.com', '*.iot.vendor.com']],
    ]);
    expect((await call('POST', '/v1/monitoring/flows', { enforcer: 'gw-1', flows: [flow] })).status).toBe(202);
    const after = await until('the fqdn rule counted as used', async () => {
      const r = await report();
      return r.items.some((i) => i.policy === 'plugs-to-cloud' && i.index === 0) ? null : r;
    });
    expect(after.items.filter((i) => i.policy === 'plugs-to-cloud')).toEqual([expect.objectContaining({ index: 1, fqdn: ['api.vendor.com', '*.iot.vendor.com'], packets: 0 })]);
    const table = await cli('report', 'unused', '--window', '1h');
    expect(table.stdout).toMatch(/plugs-to-cloud\s+allow\[1\]/);
  });

  it('compiles --dns-resolver into the bundle for segments without spec.dns; a restart with other addresses makes an audited generation', async () => {
    // controller.yaml gave 192.0.2.53: plugs declares no resolver, so it is the site's beside resolvers' own.
    const first = await current();
    expect(first.dnsResolvers).toEqual(['10.10.53.2', '192.0.2.53']);

    // CORDON_DNS_RESOLVER wins over the file; the flag wins over both.
    await stop(ctl);
    ctl = await startController(dataDir, ['--config', configFile], { CORDON_DNS_RESOLVER: '198.51.100.53, 2001:DB8::53' });
    const second = await until('a generation with the new resolvers', async () => {
      const b = await current();
      return b.generation > first.generation ? b : null;
    });
    expect(second.generation).toBe(first.generation + 1);
    expect(second.dnsResolvers).toEqual(['10.10.53.2', '198.51.100.53', '2001:db8::53']);
    expect(second.identities).toEqual(first.identities);
    const entries = (await call('GET', '/v1/audit?limit=500')).body.items as { action: string; target: string; diff: any }[];
    expect(entries.at(-1)).toMatchObject({ action: 'config', target: 'dns-resolvers', diff: { generation: second.generation, dnsResolvers: { from: ['10.10.53.2', '192.0.2.53'], to: ['10.10.53.2', '198.51.100.53', '2001:db8::53'] } } });

    await stop(ctl);
    ctl = await startController(dataDir, ['--config', configFile, '--dns-resolver', '198.51.100.53', '--dns-resolver', '2001:db8::53'], { CORDON_DNS_RESOLVER: '203.0.113.53' });
    // The same resolvers as the newest generation: no new one.
    await new Promise((r) => setTimeout(r, 500));
    expect((await current()).generation).toBe(second.generation);

    // An apply now carries them on.
    const seg = await cli('apply', '-f', file('more.yaml', 'apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: cams }\nspec: { cidrs: [10.10.2.0/24], dns: [10.10.2.53] }\n'));
    expect(seg.code).toBe(0);
    expect((await current()).dnsResolvers).toEqual(['10.10.2.53', '10.10.53.2', '198.51.100.53', '2001:db8::53']);
  }, 120_000);

  it('refuses to start with a resolver that is not an address, from a flag or from the file', async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-fqdn-bad-'));
    try {
      const flag = await refusedStart(other, ['--dns-resolver', 'resolver.lan']);
      expect(flag.code).not.toBe(0);
      expect(flag.stderr).toMatch(/--dns-resolver must be an IPv4 or IPv6 address \(for example 10\.10\.53\.2 or fd00::53\), got "resolver\.lan"/);
      const bad = path.join(other, 'controller.yaml');
      fs.writeFileSync(bad, 'dns-resolver: [10.0.0.1, 10.0.0.300]\n');
      const fromFile = await refusedStart(other, ['--config', bad]);
      expect(fromFile.code).not.toBe(0);
      expect(fromFile.stderr).toMatch(/--dns-resolver must be an IPv4 or IPv6 address .*got "10\.0\.0\.300"/);
      fs.writeFileSync(bad, 'dns-resolver: { a: 1 }\n');
      const shape = await refusedStart(other, ['--config', bad]);
      expect(shape.code).toBe(2);
      expect(shape.stderr).toMatch(/dns-resolver: must be an address or a list of addresses/);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);
});
