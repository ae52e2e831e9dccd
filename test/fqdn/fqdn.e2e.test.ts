// SPDX-License-Identifier: Apache-2.0
/**
 * Names learned from real DNS answers, proven with packets: a device namespace
 * ("plugs") behind a gateway whose enforcer (`cordon enforcer`, run inside the
 * gateway namespace, with no controller: its bundle is the kept one) steers the
 * device's queries to its DNS proxy; dnsmasq from Debian answers in a "world"
 * namespace where the servers listen. Names: fqdn_e2e_number_scenario.
 *
 * Run under the kernel lock: flock /tmp/cordon-kernel.lock npx jest test/fqdn
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { down, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { parseDocuments } from '../../apps/controller/src/policy/parse';
import { compile } from '../../apps/controller/src/compiler/compile';
import { BundleKeeper } from '../../apps/enforcer/src/bundle-keeper';
import { sleep, until } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const T: Topology = { prefix: 'cfq', net: 61, sites: [{ name: 'plugs', index: 1 }, { name: 'world', index: 2 }] };
const PLUGS = site(T, 'plugs');
const WORLD = site(T, 'world');
const GW = gatewayNs(T);
const DP_NAME = 'fqdn-e2e';
const METRICS = '127.0.0.1:17493';
const N = 200;
const v4 = (i: number) => `10.61.2.${10 + i}`;
const v6 = (i: number) => `fd00:61:2::${(0x1000 + i).toString(16)}`;
const CNAME_V4 = '10.61.2.230';
const CNAME_V6 = 'fd00:61:2::230';
const SHORT_V4 = '10.61.2.231';
const OTHER_V4 = '10.61.2.232';
const SPOOF_V4 = '10.61.2.233';
const BURST = 3000;

const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.61.1.0/24, "fd00:61:1::/64"], dns: ["fd00:61:2::2"] }   # the IPv4 resolver comes from --dns-resolver
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: resolvers }
spec: { cidrs: [10.61.2.2/32, "fd00:61:2::2/128"] }
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
    - fqdn: "*.burst.test"
  allow: [ { protocol: tcp, ports: ["443"] } ]
`;

let work: string;
let enforcer: ChildProcess | null = null;
let enforcerLog = '';
let dnsmasq: ChildProcess | null = null;
let server: ChildProcess | null = null;

function startEnforcer(extra: string[] = []): void {
  enforcerLog = '';
  // nsenter, not `ip netns exec`: that one remounts /sys, and the pins would land in a bpffs of its own
  enforcer = spawn('nsenter', [`--net=/run/netns/${GW}`,
    process.execPath, '--import', 'tsx', path.join(ROOT, 'apps', 'cli', 'src', 'main.ts'), 'enforcer',
    '--controller', '127.0.0.1:1', '--token', `${'t'.repeat(32)}.${'a'.repeat(64)}`, '--name', 'gw-fqdn',
    '--interface', PLUGS.gwIf, '--state-dir', path.join(work, 'state'), '--metrics', METRICS, '--datapath-name', DP_NAME,
    '--dns-resolver', WORLD.v4, '--dns-proxy-address', PLUGS.gw4, '--dns-proxy-address', PLUGS.gw6,
    '--fqdn-min-ttl', '1s', '--fqdn-max-addresses', '1000', '--fqdn-max-per-name', '8', '--log-level', 'debug', ...extra,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  enforcer.stdout!.on('data', (d) => (enforcerLog = (enforcerLog + d).slice(-100_000)));
  enforcer.stderr!.on('data', (d) => (enforcerLog = (enforcerLog + d).slice(-100_000)));
}

async function enforcerReady(): Promise<void> {
  await until('the enforcer to run its DNS proxy', () => /DNS proxy listening/.test(enforcerLog) || enforcer?.exitCode != null, 60_000);
  if (!/DNS proxy listening/.test(enforcerLog)) throw new Error(`enforcer exited:\n${enforcerLog}`);
}

async function killEnforcer(signal: NodeJS.Signals): Promise<void> {
  if (!enforcer || enforcer.exitCode !== null) return;
  const gone = new Promise((r) => enforcer!.once('exit', r));
  enforcer.kill(signal);
  await Promise.race([gone, sleep(10_000)]);
  enforcer = null;
}

async function device(args: object, timeoutMs = 150_000): Promise<any> {
  const r = await runIn(PLUGS.ns, [process.execPath, '--import', 'tsx', path.join(ROOT, 'test', 'support', 'dns-client.ts'), JSON.stringify(args)], timeoutMs);
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } catch {
    throw new Error(`dns client failed (${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

async function connects(address: string): Promise<boolean> {
  const r = await runIn(PLUGS.ns, [process.execPath, path.join(ROOT, 'test', 'support', 'traffic-agent.js'), 'connect', address, '443', '1000'], 10_000);
  return JSON.parse(r.stdout.trim() || '{}').ok === true;
}

async function metric(name: string): Promise<number> {
  const r = await runIn(GW, ['curl', '-s', `http://${METRICS}/metrics`], 10_000);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

/** The IPv4 addresses the pinned learned-name map holds (keys are IPv4-mapped 16-byte addresses). */
function pinnedV4(): string[] {
  const out = execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', `/sys/fs/bpf/cordon/${DP_NAME}/cordon_fqdn`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return (JSON.parse(out) as { key: string[] }[]).map((e) => e.key.slice(12, 16).map((b) => parseInt(b, 16)).join('.'));
}
function pinnedEntries(): number {
  return pinnedV4().length;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('namespace tests need root');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-fqdn-'));
  up(T);
  // servers on every address the names have, in the world namespace
  const addr = (a: string) => execFileSync('ip', ['netns', 'exec', WORLD.ns, 'ip', 'addr', 'add', a, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : [])]);
  for (let i = 1; i <= N; i++) {
    addr(`${v4(i)}/32`);
    addr(`${v6(i)}/128`);
  }
  for (const a of [CNAME_V4, SHORT_V4, OTHER_V4, SPOOF_V4, '10.61.2.250']) addr(`${a}/32`);
  addr(`${CNAME_V6}/128`);
  const hosts: string[] = [];
  for (let i = 1; i <= N; i++) hosts.push(`${v4(i)} n${i}.cloud.test`, `${v6(i)} n${i}.cloud.test`);
  hosts.push(`${CNAME_V4} edge.cdn.test`, `${CNAME_V6} edge.cdn.test`, `${OTHER_V4} other.test`);
  for (let i = 1; i <= BURST; i++) hosts.push(`10.62.${i >> 8}.${i & 255} b${i}.burst.test`);
  for (let k = 1; k <= 20; k++) hosts.push(`10.63.0.${k} multi.burst.test`);
  fs.writeFileSync(path.join(work, 'hosts'), hosts.join('\n') + '\n');
  dnsmasq = spawnIn(WORLD.ns, [
    'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${WORLD.v4}`, `--listen-address=${WORLD.v6}`,
    '--except-interface=lo', `--addn-hosts=${path.join(work, 'hosts')}`, '--local-ttl=300', '--cname=www.vendor.test,edge.cdn.test,300',
    `--host-record=short.cloud.test,${SHORT_V4},2`, '--cache-size=0', `--pid-file=${path.join(work, 'dnsmasq.pid')}`, '--user=root', '--log-facility=-',
  ]);
  server = spawnIn(WORLD.ns, [process.execPath, path.join(ROOT, 'test', 'support', 'traffic-agent.js'), 'serve', '443', '600']);
  const compiled = compile(parseDocuments(SITE), { identities: {}, generation: 1 });
  fs.mkdirSync(path.join(work, 'state'), { recursive: true, mode: 0o700 });
  BundleKeeper.inDir(path.join(work, 'state')).commit(compiled);
  execFileSync('rm', ['-rf', `/sys/fs/bpf/cordon/${DP_NAME}`]);
  startEnforcer();
  await enforcerReady();
}, 120_000);

afterAll(async () => {
  await killEnforcer('SIGTERM');
  dnsmasq?.kill('SIGTERM');
  server?.kill('SIGTERM');
  down(T);
  execFileSync('rm', ['-rf', `/sys/fs/bpf/cordon/${DP_NAME}`]);
  fs.rmSync(work, { recursive: true, force: true });
});

afterEach(() => {
  const st = expect.getState();
  if (st.assertionCalls !== st.numPassingAsserts) process.stderr.write(`enforcer log:\n${enforcerLog.slice(-20_000)}\n`);
});

test('fqdn_e2e_1_an_unresolved_address_and_a_name_no_policy_names_are_dropped', async () => {
  expect(await connects(v4(1))).toBe(false);
  const r = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['other.test'], type: 'A', port: 443, timeoutMs: 1000 });
  expect(r.results).toEqual([{ name: 'other.test', address: OTHER_V4, ok: false }]);
});

test('fqdn_e2e_2_the_first_syn_after_the_answer_passes_200_times_ipv4_and_ipv6', async () => {
  const names = Array.from({ length: N }, (_, i) => `n${i + 1}.cloud.test`);
  const a = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names, type: 'A', port: 443 });
  const aaaa = await device({ mode: 'resolve-connect', resolver: WORLD.v6, names, type: 'AAAA', port: 443 });
  process.stderr.write(`first SYN after the answer: IPv4 ${a.passed}/${N}, IPv6 ${aaaa.passed}/${N}\n`);
  expect(a.results.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
  expect(aaaa.results.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
  expect(a.results[0].address).toBe(v4(1));
  expect(aaaa.results[0].address).toBe(v6(1));
  // the device saw its resolver answer: the proxy's address never shows
  expect(await metric('cordon_fqdn_addresses')).toBeGreaterThanOrEqual(2 * N);
});

test('fqdn_e2e_3_a_cname_chain_allows_the_final_addresses_a_and_aaaa', async () => {
  expect(await connects(CNAME_V4)).toBe(false);
  const a = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['www.vendor.test'], type: 'A', port: 443 });
  const aaaa = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['www.vendor.test'], type: 'AAAA', port: 443 });
  expect(a.results).toEqual([{ name: 'www.vendor.test', address: CNAME_V4, ok: true }]);
  expect(aaaa.results).toEqual([{ name: 'www.vendor.test', address: CNAME_V6, ok: true }]);
});

test('fqdn_e2e_4_after_the_ttl_new_connections_drop_until_the_name_is_resolved_again', async () => {
  const r = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['short.cloud.test'], type: 'A', port: 443 });
  expect(r.results).toEqual([{ name: 'short.cloud.test', address: SHORT_V4, ok: true }]);
  await sleep(2600); // TTL 2 s (above --fqdn-min-ttl 1s)
  expect(await connects(SHORT_V4)).toBe(false);
  const again = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['short.cloud.test'], type: 'A', port: 443 });
  expect(again.results[0].ok).toBe(true);
});

test('fqdn_e2e_5_spoofed_answers_from_a_non_resolver_teach_nothing', async () => {
  // an attacker in the world namespace sprays answers for spoof.cloud.test at the device and at the proxy's ports
  const spray = `
    const d = require('node:dgram'); const s = d.createSocket('udp4');
    s.bind(53, '10.61.2.250', async () => {
      const name = Buffer.concat(['spoof','cloud','test'].map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])).concat([Buffer.from([0])]));
      for (let id = 0; id < 300; id++) {
        const h = Buffer.alloc(12); h.writeUInt16BE(id, 0); h.writeUInt16BE(0x8180, 2); h.writeUInt16BE(1, 4); h.writeUInt16BE(1, 6);
        const q = Buffer.concat([name, Buffer.from([0, 1, 0, 1])]);
        const rr = Buffer.concat([Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4]), Buffer.from([10, 61, 2, 233])]);
        const m = Buffer.concat([h, q, rr]);
        for (const [port, host] of [[10053, '${PLUGS.gw4}'], [10054, '${PLUGS.gw4}'], [5353, '${PLUGS.v4}']]) s.send(m, port, host);
        await new Promise(r => setTimeout(r, 2));
      }
      setTimeout(() => process.exit(0), 200);
    });`;
  await runIn(WORLD.ns, [process.execPath, '-e', spray], 20_000);
  expect(await connects(SPOOF_V4)).toBe(false);
  // the device asks for it: the real resolver knows no such name, so nothing is learned either
  const r = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['spoof.cloud.test'], type: 'A', port: 443, timeoutMs: 1500 });
  expect(r.results).toEqual([{ name: 'spoof.cloud.test', ok: false }]);
  expect(await connects(SPOOF_V4)).toBe(false);
});

test('fqdn_e2e_6_learned_addresses_survive_a_sigkill_and_learning_goes_on_after_the_restart', async () => {
  await killEnforcer('SIGKILL');
  // pinned: enforcement of what was learned goes on with no enforcer at all
  expect(await connects(v4(5))).toBe(true);
  expect(await connects(v6(6))).toBe(true);
  const pinnedBefore = pinnedEntries();
  expect(pinnedBefore).toBeGreaterThanOrEqual(2 * N);
  // without its snapshot, the restarted enforcer takes what it learned from the pinned map alone
  fs.rmSync(path.join(work, 'state', 'fqdn.json'), { force: true });
  startEnforcer();
  await enforcerReady();
  const restored = /"addresses":(\d+)[^\n]*learned names restored/.exec(enforcerLog);
  expect(Number(restored?.[1])).toBeGreaterThanOrEqual(2 * N);
  expect(await connects(v4(7))).toBe(true);
  expect(await connects(OTHER_V4)).toBe(false);
  const r = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['b1.burst.test'], type: 'A', port: 443, timeoutMs: 1000 });
  expect(r.results[0]).toMatchObject({ address: '10.62.0.1' }); // learned (no server there: the SYN goes out, unanswered)
  expect(await metric('cordon_fqdn_addresses')).toBeGreaterThanOrEqual(2 * N + 1);
}, 120_000);

test('fqdn_e2e_7_a_burst_of_distinct_answers_stays_within_the_caps_oldest_first', async () => {
  const names = Array.from({ length: BURST }, (_, i) => `b${i + 1}.burst.test`);
  const r = await device({ mode: 'burst', resolver: WORLD.v4, names: [...names, 'multi.burst.test'], type: 'A', concurrency: 64 });
  expect(r.answered).toBeGreaterThan(BURST * 0.95);
  const held = await metric('cordon_fqdn_addresses');
  const evicted = await metric('cordon_fqdn_evictions_total');
  process.stderr.write(`burst of ${BURST + 1} answers: ${held} addresses held, ${evicted} evicted, ${pinnedEntries()} in the map\n`);
  expect(held).toBeLessThanOrEqual(1000);
  expect(pinnedEntries()).toBeLessThanOrEqual(1000);
  expect(evicted).toBeGreaterThan(BURST - 1000);
  // the name with 20 addresses keeps 8 of them (--fqdn-max-per-name 8)
  const multi = await device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['multi.burst.test'], type: 'A', port: 443, timeoutMs: 500 });
  expect(multi.results[0].address).toMatch(/^10\.63\.0\./);
  const pinned = pinnedV4();
  expect(pinned.filter((a) => a.startsWith('10.63.0.'))).toHaveLength(8);
  // the oldest went first: the 200 cloud names learned before the burst are gone, the last burst name is held
  expect(await connects(v4(3))).toBe(false);
  expect(pinned).toContain(`10.62.${BURST >> 8}.${BURST & 255}`);
}, 180_000);

test('fqdn_e2e_8_a_restart_without_its_kept_bundle_keeps_the_learned_addresses_until_a_generation_names_selectors', async () => {
  const before = pinnedEntries();
  expect(before).toBeGreaterThan(0);
  await killEnforcer('SIGKILL');
  // neither the names' snapshot nor the kept bundle: the kernel goes on enforcing, the enforcer knows no selector yet
  fs.rmSync(path.join(work, 'state', 'fqdn.json'), { force: true });
  fs.rmSync(path.join(work, 'state', 'bundle.json'), { force: true });
  startEnforcer();
  await enforcerReady();
  await sleep(1000);
  expect(pinnedEntries()).toBe(before);
}, 60_000);
