// SPDX-License-Identifier: Apache-2.0
/**
 * A denied flood through a gateway namespace with the XDP short-cut attached
 * (native, on veth): the flood never reaches the server, every packet of it
 * is counted, all but each flow's first are dropped by XDP (the veth's own
 * XDP drop counter says so), and another device's allowed UDP and TCP pass
 * meanwhile. Detaching removes the short-cut with the tc program.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { IDENTITY, IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath } from '../../native/lib/datapath';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { openTestDatapath } from '../support/datapath';

const topo: Topology = { prefix: 'cxf', net: 226, sites: [{ name: 'attacker', index: 1 }, { name: 'client', index: 2 }, { name: 'server', index: 3 }] };
const attacker = site(topo, 'attacker');
const client = site(topo, 'client');
const server = site(topo, 'server');
const gw = gatewayNs(topo);
const netns = `/run/netns/${gw}`;
const AGENT = path.join(__dirname, '..', 'support', 'traffic-agent.js');
const SENDER = path.join(os.tmpdir(), 'cordon-test-flood-sender');
const FLOWS = 16;
const CLIENTS = 256;
const SERVERS = 257;
const ATTACKERS = 258;

const ipcache: IpcacheEntry[] = [
  { cidr: attacker.subnet4, identity: ATTACKERS },
  { cidr: client.subnet4, identity: CLIENTS },
  { cidr: server.subnet4, identity: SERVERS },
  ...[attacker, client, server].map((s) => ({ cidr: `${s.gw4}/32`, identity: IDENTITY.HOST })),
];
const policy: PolicyEntry[] = [
  { srcIdentity: CLIENTS, dstIdentity: SERVERS, protocol: 17, port: 7000, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 },
  { srcIdentity: CLIENTS, dstIdentity: SERVERS, protocol: 6, port: 7000, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 2 },
];

let dp: Datapath;
const attached: Record<string, string | undefined> = {};

function xdpDrops(ifname: string): number {
  const out = execFileSync('ip', ['netns', 'exec', gw, 'ethtool', '-S', ifname], { encoding: 'utf8' });
  return [...out.matchAll(/rx_queue_\d+_xdp_drops: (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

const xdpAttached = (ifname: string) => /\bxdp\b/.test(execFileSync('ip', ['netns', 'exec', gw, 'ip', 'link', 'show', ifname], { encoding: 'utf8' }));

async function serve(port: number) {
  const child = spawnIn(server.ns, ['node', AGENT, 'serve', String(port), '30']);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + 5000;
  while (!out.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (!out.includes('ready')) throw new Error(`server on ${port} did not start`);
  return {
    stop: () =>
      new Promise<{ tcpConnections: number; udpDatagrams: number }>((resolve) => {
        child.on('close', () => resolve(JSON.parse(out.trim().split('\n').pop()!)));
        child.kill('SIGTERM');
      }),
  };
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('traffic tests make network namespaces: run them as root');
  execFileSync('gcc', ['-O2', '-o', SENDER, path.join(__dirname, '..', '..', 'scripts', 'bench', 'flood-sender.c')]);
  up(topo);
  dp = await openTestDatapath('test-xdp-flood');
  await dp.applyGeneration({ generation: 1, ipcache, policy });
  for (const ifname of gatewayInterfaces(topo)) {
    attached[ifname] = (await dp.attach(ifname, 'ingress', { netns, xdp: true })).xdp;
    await dp.attach(ifname, 'egress', { netns });
  }
});

afterAll(() => {
  down(topo);
  dp?.unpin();
  dp?.close();
});

test('xdp_flood_1_a_denied_flood_drops_at_xdp_counted_while_allowed_traffic_passes', async () => {
  expect(attached[attacker.gwIf]).toBe('native');
  expect(xdpAttached(attacker.gwIf)).toBe(true);
  const denied = await serve(9999);
  const allowed = await serve(7000);
  const policy0 = dp.reasonStats().policy?.packets ?? 0;
  const xdp0 = xdpDrops(attacker.gwIf);
  const gwMac = JSON.parse(execFileSync('ip', ['netns', 'exec', gw, 'ip', '-j', 'link', 'show', attacker.gwIf], { encoding: 'utf8' }))[0].address;
  // bounded: one second or 200,000 frames
  const flood = runIn(attacker.ns, [SENDER, 'eth0', attacker.mac, gwMac, attacker.v4, server.v4, '9999', String(FLOWS), '1', '200000'], 15000);
  const udp = runIn(client.ns, ['node', AGENT, 'udp', server.v4, '7000', '200'], 15000);
  const tcp = runIn(client.ns, ['node', AGENT, 'connect', server.v4, '7000', '3000'], 15000);
  const [f, u, t] = await Promise.all([flood, udp, tcp]);
  expect(f.code).toBe(0);
  const sent = JSON.parse(f.stdout.trim()).sent as number;
  expect(sent).toBeGreaterThan(10 * FLOWS);
  expect(JSON.parse(u.stdout.trim())).toMatchObject({ sent: 200 });
  expect(JSON.parse(t.stdout.trim())).toMatchObject({ ok: true });
  await new Promise((r) => setTimeout(r, 200)); // the last datagrams land
  const d = await denied.stop();
  const a = await allowed.stop();
  expect(d.udpDatagrams).toBe(0);
  // the allowed stream passed in full (UDP between namespaces loses nothing unless a ring overflows)
  expect(a.udpDatagrams).toBeGreaterThanOrEqual(195);
  expect(a.tcpConnections).toBe(1);
  const counted = (dp.reasonStats().policy?.packets ?? 0) - policy0;
  const byXdp = xdpDrops(attacker.gwIf) - xdp0;
  // every frame is counted; tc judged each flow's first, XDP dropped the rest (the counters also
  // hold the namespaces' own stray denied packets, IPv6 router solicitations and the like: a few)
  expect(counted).toBeGreaterThanOrEqual(sent);
  expect(byXdp).toBeGreaterThanOrEqual(sent - FLOWS);
  expect(counted - byXdp).toBeGreaterThanOrEqual(FLOWS);
  expect(counted - byXdp).toBeLessThan(FLOWS + 50);
});

test('xdp_flood_2_detach_removes_the_short_cut_with_the_tc_program', async () => {
  await dp.detach(attacker.gwIf, 'ingress', { netns });
  expect(xdpAttached(attacker.gwIf)).toBe(false);
  // attach without it (the old path): tc alone, and an earlier short-cut is removed
  expect((await dp.attach(attacker.gwIf, 'ingress', { netns, xdp: true })).xdp).toBe('native');
  expect((await dp.attach(attacker.gwIf, 'ingress', { netns, xdp: false })).xdp).toBe('off');
  expect(xdpAttached(attacker.gwIf)).toBe(false);
});
