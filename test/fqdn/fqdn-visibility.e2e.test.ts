// SPDX-License-Identifier: Apache-2.0
/**
 * Visibility by name, end to end with packets (under the kernel lock): a real
 * `cordon controller` and a real `cordon enforcer`, both run inside the gateway
 * namespace (the enforcer's DNS proxy listens where the devices' queries pass,
 * and the controller must be reachable from there), dnsmasq answering in a
 * "world" namespace. A device resolves names and connects; then
 * - `cordon flows --to NAME` finds its flows by the name it resolved, and the
 *   flow's TO column shows the name beside the address (dst_name);
 * - `cordon get fqdn [NAME] [--enforcer E]` lists what the enforcer learned:
 *   name, address, expiry, the pattern it matched;
 * - a name no policy matches is not learned (its connection is dropped, and
 *   get fqdn does not list it) but its flows still say which server; an
 *   address nobody resolved carries no name.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { down, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { sleep, until } from '../support/wait';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..');
const T: Topology = { prefix: 'cfv', net: 67, sites: [{ name: 'plugs', index: 1 }, { name: 'world', index: 2 }] };
const PLUGS = site(T, 'plugs');
const WORLD = site(T, 'world');
const GW = gatewayNs(T);
const DP_NAME = 'fqdn-vis';
const ENFORCER = 'gw-vis';
// the gateway namespace is ours alone: fixed loopback ports there cannot collide
const HTTP = '127.0.0.1:17601';
const GRPC = '127.0.0.1:17602';
const METRICS = '127.0.0.1:17603';
const API_V4 = '10.67.2.10';
const EDGE_V4 = '10.67.2.11';
const OTHER_V4 = '10.67.2.12';
const UNNAMED_V4 = '10.67.2.13';

const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.67.1.0/24], dns: ["${WORLD.v4}"] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: resolvers }
spec: { cidrs: ["${WORLD.v4}/32"] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-dns }
spec:
  from: [plugs]
  to: [resolvers]
  allow: [ { protocol: udp, ports: ["53"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-cloud }
spec:
  from: [plugs]
  to:
    - fqdn: "*.cloud.test"
    - fqdn: www.vendor.test
  allow: [ { protocol: tcp, ports: ["443"] } ]
`;

let work: string;
const children: ChildProcess[] = [];
let controllerLog = '';
let enforcerLog = '';
let admin = '';

/** Runs in the gateway namespace (nsenter, not `ip netns exec`, which remounts /sys and would hide the pins). */
function inGateway(args: string[], onOutput: (d: string) => void): ChildProcess {
  const c = spawn('nsenter', [`--net=/run/netns/${GW}`, process.execPath, '--import', 'tsx', path.join(ROOT, 'apps', 'cli', 'src', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout!.on('data', (d) => onOutput(String(d)));
  c.stderr!.on('data', (d) => onOutput(String(d)));
  children.push(c);
  return c;
}

/** A `cordon` client command against the controller in the gateway namespace. */
async function cordon(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runIn(GW, [process.execPath, '--import', 'tsx', path.join(ROOT, 'apps', 'cli', 'src', 'main.ts'), ...args, '--server', `http://${HTTP}`, '--token', admin], 60_000);
}

async function json(args: string[]): Promise<any> {
  const r = await cordon([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`cordon ${args.join(' ')}: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function device(args: object): Promise<any> {
  const r = await runIn(PLUGS.ns, [process.execPath, '--import', 'tsx', path.join(ROOT, 'test', 'support', 'dns-client.ts'), JSON.stringify(args)], 60_000);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function connects(address: string): Promise<boolean> {
  const r = await runIn(PLUGS.ns, [process.execPath, path.join(ROOT, 'test', 'support', 'traffic-agent.js'), 'connect', address, '443', '1000'], 10_000);
  return JSON.parse(r.stdout.trim() || '{}').ok === true;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('namespace tests need root');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-fqdn-vis-'));
  up(T);
  for (const a of [API_V4, EDGE_V4, OTHER_V4, UNNAMED_V4]) execFileSync('ip', ['netns', 'exec', WORLD.ns, 'ip', 'addr', 'add', `${a}/32`, 'dev', 'eth0']);
  children.push(
    spawnIn(WORLD.ns, [
      'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${WORLD.v4}`, '--except-interface=lo',
      `--host-record=api.cloud.test,${API_V4},300`, `--host-record=edge.cdn.test,${EDGE_V4},300`, '--cname=www.vendor.test,edge.cdn.test,300',
      `--host-record=other.test,${OTHER_V4},300`, '--cache-size=0', `--pid-file=${path.join(work, 'dnsmasq.pid')}`, '--user=root', '--log-facility=-',
    ]),
    spawnIn(WORLD.ns, [process.execPath, path.join(ROOT, 'test', 'support', 'traffic-agent.js'), 'serve', '443', '300']),
  );
  execFileSync('rm', ['-rf', `/sys/fs/bpf/cordon/${DP_NAME}`]);
  const ctl = path.join(work, 'ctl');
  const controller = inGateway(['controller', '--http', HTTP, '--grpc', GRPC, '--data-dir', ctl, '--log-level', 'warn'], (d) => (controllerLog = (controllerLog + d).slice(-50_000)));
  await until('the controller to listen', () => /listening on http/.test(controllerLog) || controller.exitCode !== null, 60_000);
  if (controller.exitCode !== null) throw new Error(`controller exited:\n${controllerLog}`);
  admin = fs.readFileSync(path.join(ctl, 'admin.token'), 'utf8').trim();
  fs.writeFileSync(path.join(work, 'site.yaml'), SITE);
  const applied = await cordon(['apply', '-f', path.join(work, 'site.yaml')]);
  if (applied.code !== 0) throw new Error(`apply: ${applied.stderr}`);
  const join = (await json(['token', 'create', '--ttl', '10m'])).join;
  const enforcer = inGateway([
    'enforcer', '--controller', GRPC, '--token', join, '--name', ENFORCER, '--interface', PLUGS.gwIf, '--state-dir', path.join(work, 'state'),
    '--metrics', METRICS, '--datapath-name', DP_NAME, '--dns-proxy-address', PLUGS.gw4, '--flow-interval', '300ms', '--mud-dhcp', 'off', '--log-level', 'info',
  ], (d) => (enforcerLog = (enforcerLog + d).slice(-50_000)));
  // the resolvers come from the bundle (Segment spec.dns): the proxy starts once generation 1 is enforced
  await until('the enforcer to run its DNS proxy', () => /DNS proxy listening/.test(enforcerLog) || enforcer.exitCode !== null, 60_000);
  if (enforcer.exitCode !== null) throw new Error(`enforcer exited:\n${enforcerLog}`);
}, 150_000);

afterAll(async () => {
  for (const c of children.reverse()) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(1500);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  down(T);
  execFileSync('rm', ['-rf', `/sys/fs/bpf/cordon/${DP_NAME}`]);
  fs.rmSync(work, { recursive: true, force: true });
});

afterEach(() => {
  const st = expect.getState();
  if (st.assertionCalls !== st.numPassingAsserts) process.stderr.write(`controller log:\n${controllerLog.slice(-10_000)}\nenforcer log:\n${enforcerLog.slice(-20_000)}\n`);
});

test('a device resolves and connects: its flows carry the name it resolved, and cordon flows --to NAME finds them', async () => {
  expect(await connects(UNNAMED_V4)).toBe(false);
  const r = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['api.cloud.test', 'www.vendor.test', 'other.test'], type: 'A', port: 443 });
  expect(r.results).toEqual([
    { name: 'api.cloud.test', address: API_V4, ok: true },
    { name: 'www.vendor.test', address: EDGE_V4, ok: true },
    { name: 'other.test', address: OTHER_V4, ok: false },
  ]);
  let api: any[] = [];
  await until('the flow to api.cloud.test at the controller', async () => (api = (await json(['flows', '--to', 'api.cloud.test'])).filter((f: any) => f.dport === 443)).length > 0, 20_000, 300);
  expect(api).toEqual([expect.objectContaining({ enforcer: ENFORCER, dst: API_V4, dport: 443, verdict: 'allow', dstName: 'api.cloud.test', dstSegment: 'fqdn:*.cloud.test' })]);
  // a pattern, and a CNAME: the name is the one the device asked for
  const vendor = (await json(['flows', '--to', '*.vendor.test'])).filter((f: any) => f.dport === 443);
  expect(vendor).toEqual([expect.objectContaining({ dst: EDGE_V4, verdict: 'allow', dstName: 'www.vendor.test' })]);
  // the dropped connections: to a name no policy matches (not learned: dropped, but it says which server) and to an
  // address nobody resolved (no name)
  const all = await json(['flows', '--port', '443']);
  expect(all.filter((f: any) => f.dst === OTHER_V4)).toEqual([expect.objectContaining({ verdict: 'deny', dstName: 'other.test', dstSegment: 'world' })]);
  expect(all.filter((f: any) => f.dst === UNNAMED_V4)).toEqual([expect.objectContaining({ verdict: 'deny', dstName: null })]);
  expect((await json(['flows', '--to', 'other.test'])).filter((f: any) => f.dport === 443).map((f: any) => f.dst)).toEqual([OTHER_V4]);
  // the table shows the name beside the address
  const table = await cordon(['flows', '--to', 'api.cloud.test', '--port', '443']);
  expect(table.stdout).toContain(`${API_V4}:443 (api.cloud.test)`);
});

test('cordon get fqdn lists what the enforcer learned: name, address, expiry, pattern; a name filter and --enforcer narrow it', async () => {
  let items: any[] = [];
  await until('the enforcer to report its learned names', async () => (items = (await json(['get', 'fqdn'])).filter((i: any) => i.enforcer === ENFORCER)).length >= 2, 15_000, 300);
  const now = Date.now();
  expect(items).toEqual([
    expect.objectContaining({ enforcer: ENFORCER, name: 'api.cloud.test', address: API_V4, expired: false, selectors: ['*.cloud.test'] }),
    expect.objectContaining({ enforcer: ENFORCER, name: 'www.vendor.test', address: EDGE_V4, expired: false, selectors: ['www.vendor.test'] }),
  ]);
  // dnsmasq's TTL of 300 s (above the 60 s floor)
  for (const i of items) expect(Date.parse(i.expiresAt) - now).toBeGreaterThan(250_000);
  expect((await json(['get', 'fqdn', '*.cloud.test', '--enforcer', ENFORCER])).map((i: any) => i.name)).toEqual(['api.cloud.test']);
  const table = await cordon(['get', 'fqdn']);
  expect(table.stdout).toMatch(/NAME\s+ADDRESS\s+EXPIRES\s+SELECTORS\s+ENFORCER/);
  expect(table.stdout).toMatch(new RegExp(`api\\.cloud\\.test\\s+${API_V4.replace(/\./g, '\\.')}\\s+in \\d+[sm]\\s+\\*\\.cloud\\.test\\s+${ENFORCER}`));
  // the policy by name lists its targets as written
  expect((await cordon(['get', 'policies'])).stdout).toMatch(/plugs-to-cloud .*plugs -> fqdn:\*\.cloud\.test,fqdn:www\.vendor\.test allow 1/);
  // bad input: a clear refusal, not an empty list
  const bad = await cordon(['get', 'fqdn', 'a..b']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/empty label/);
  const unknown = await cordon(['get', 'fqdn', '--enforcer', 'no-such-gw']);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toMatch(/not enrolled/);
});

test('cordon recommend proposes rules by the names the devices resolved, never their addresses, and the proposal applies', async () => {
  const r = await json(['recommend', '--include-denied']);
  const toNames = (r.documents as any[]).filter((d) => d.spec.from.includes('plugs')).flatMap((d) => d.spec.to.map((t: any) => ({ to: t, allow: d.spec.allow })));
  // the allowed servers by the exact names asked for (not the policy's pattern), the denied one by its name too
  for (const name of ['api.cloud.test', 'www.vendor.test', 'other.test']) expect(toNames).toContainEqual({ to: { fqdn: name }, allow: [{ protocol: 'tcp', ports: ['443'] }] });
  // the address nobody resolved stays an address of world: no name to propose
  expect(JSON.stringify(r.documents)).not.toContain(OTHER_V4);
  // the YAML is valid documents: a dry run takes it
  const file = path.join(work, 'recommended.yaml');
  const text = await cordon(['recommend', '--include-denied']);
  fs.writeFileSync(file, text.stdout);
  const dry = await cordon(['apply', '-f', file, '--dry-run']);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
});
