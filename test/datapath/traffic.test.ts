// SPDX-License-Identifier: Apache-2.0
/**
 * Real traffic through a gateway namespace running the datapath on tc:
 * TCP, UDP and ping from a client namespace to a server namespace, allowed or
 * dropped as the policy says; a policy swap under a running stream; and a
 * program that keeps enforcing after the process that loaded it has exited.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { IDENTITY, IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath, Generation } from '../../native/lib/datapath';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { openTestDatapath } from '../support/datapath';

const topo: Topology = { prefix: 'cdt', net: 231, sites: [{ name: 'client', index: 1 }, { name: 'server', index: 2 }] };
const client = site(topo, 'client');
const server = site(topo, 'server');
const netns = `/run/netns/${gatewayNs(topo)}`;
const AGENT = path.join(__dirname, '..', 'support', 'traffic-agent.js');
const CLIENTS = 256;
const SERVERS = 257;

const ipcache: IpcacheEntry[] = [
  { cidr: client.subnet4, identity: CLIENTS },
  { cidr: client.subnet6, identity: CLIENTS },
  { cidr: server.subnet4, identity: SERVERS },
  { cidr: server.subnet6, identity: SERVERS },
  { cidr: `${client.gw4}/32`, identity: IDENTITY.HOST },
  { cidr: `${server.gw4}/32`, identity: IDENTITY.HOST },
];
const allow = (protocol: number, port: number, ruleId: number, plen = 16): PolicyEntry => ({
  srcIdentity: CLIENTS,
  dstIdentity: SERVERS,
  protocol,
  port,
  portPrefixLen: plen,
  verdict: VERDICT.ALLOW,
  ruleId,
});
const policyA: PolicyEntry[] = [allow(6, 7000, 1), allow(17, 7000, 2), allow(1, 8 << 8, 3, 8), allow(6, 7100, 4)];
const policyB: PolicyEntry[] = [...policyA, allow(6, 7200, 5)];

let dp: Datapath;

async function agent(ns: string, ...args: string[]) {
  const r = await runIn(ns, ['node', AGENT, ...args], 30000);
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
}

/** Starts a TCP echo + UDP counting server in the server namespace; stop() returns its counts. */
async function serve(port: number, family: 4 | 6 = 4) {
  const child = spawnIn(server.ns, ['node', AGENT, 'serve', String(port), '60', String(family)]);
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
  up(topo);
  dp = await openTestDatapath('test-traffic');
  await dp.applyGeneration({ generation: 1, ipcache, policy: policyA });
  for (const ifname of gatewayInterfaces(topo)) {
    await dp.attach(ifname, 'ingress', { netns });
    await dp.attach(ifname, 'egress', { netns });
  }
});

afterAll(() => {
  down(topo);
  dp?.unpin();
  dp?.close();
});

test('traffic_v4_1_allowed_tcp_connects_denied_port_does_not', async () => {
  const a = await serve(7000);
  const b = await serve(7001);
  try {
    expect(await agent(client.ns, 'connect', server.v4, '7000')).toMatchObject({ ok: true });
    expect(await agent(client.ns, 'connect', server.v4, '7001', '1000')).toMatchObject({ ok: false });
  } finally {
    await a.stop();
    expect((await b.stop()).tcpConnections).toBe(0);
  }
  // the reply direction of the allowed connection was counted on its flow
  const flow = (await dp.flows()).find((f) => f.dport === 7000 && f.protocol === 6 && f.verdict === 'allow');
  expect(flow?.packetsRev).toBeGreaterThan(0);
});

test('traffic_v6_1_allowed_tcp_over_ipv6', async () => {
  const a = await serve(7000, 6);
  try {
    expect(await agent(client.ns, 'connect', server.v6, '7000')).toMatchObject({ ok: true });
    expect(await agent(client.ns, 'connect', server.v6, '7001', '1000')).toMatchObject({ ok: false });
  } finally {
    await a.stop();
  }
});

test('traffic_v4_2_ping_one_way_only', async () => {
  const there = await runIn(client.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', server.v4]);
  expect(there.code).toBe(0);
  const back = await runIn(server.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', client.v4]);
  expect(back.code).not.toBe(0);
});

test('traffic_v4_3_udp_allowed_arrives_denied_does_not', async () => {
  const a = await serve(7000);
  const b = await serve(7001);
  await agent(client.ns, 'udp', server.v4, '7000', '50');
  await agent(client.ns, 'udp', server.v4, '7001', '50');
  await new Promise((r) => setTimeout(r, 200));
  expect((await a.stop()).udpDatagrams).toBe(50);
  expect((await b.stop()).udpDatagrams).toBe(0);
});

test('traffic_v4_4_policy_swaps_under_a_running_stream', async () => {
  const s = await serve(7100);
  const denied = await serve(7101);
  try {
    const stream = agent(client.ns, 'stream', server.v4, '7100', '4');
    const flood = agent(client.ns, 'udp', server.v4, '7101', '1500');
    let swaps = 0;
    const until = Date.now() + 3500;
    while (Date.now() < until) {
      await dp.applyGeneration({ generation: 100 + swaps, ipcache, policy: swaps % 2 ? policyA : policyB });
      swaps++;
      await new Promise((r) => setTimeout(r, 50));
    }
    const result = await stream;
    await flood;
    expect(swaps).toBeGreaterThan(20);
    expect(result.errors).toBe(0);
    expect(result.sent).toBeGreaterThan(300);
    expect(result.echoed).toBe(result.sent);
  } finally {
    await s.stop();
    expect((await denied.stop()).udpDatagrams).toBe(0);
  }
});

test('traffic_v4_5_enforcement_outlives_the_loading_process', async () => {
  const name = 'test-traffic-pinned';
  const generation: Generation = { generation: 7, ipcache, policy: [allow(6, 7000, 1)] };
  const tsx = path.join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
  const loader = path.join(__dirname, '..', 'support', 'load-and-exit.ts');
  execFileSync(tsx, [loader, JSON.stringify({ name, netns, interfaces: gatewayInterfaces(topo), generation })], { stdio: 'pipe' });
  const a = await serve(7000);
  const b = await serve(7100);
  try {
    // The loader has exited: its program, now attached, allows 7000 only.
    expect(await agent(client.ns, 'connect', server.v4, '7000')).toMatchObject({ ok: true });
    expect(await agent(client.ns, 'connect', server.v4, '7100', '1000')).toMatchObject({ ok: false });
  } finally {
    await a.stop();
    await b.stop();
    const adopted = await Datapath.open({ name });
    expect(adopted.adopted).toBe(true);
    expect(adopted.state().generation).toBe(7);
    adopted.unpin();
    adopted.close();
  }
});
