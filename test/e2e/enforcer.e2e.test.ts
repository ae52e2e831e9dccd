/**
 * End to end with the kernel: a real controller, the enforcer daemon with the
 * real datapath attached to a gateway namespace's interfaces, and packets
 * between two namespaces. Needs root and the built addon (npm run build).
 *
 * The enforcer runs in this process; only its interfaces are in the gateway
 * namespace (the datapath's attach takes the namespace), so its gRPC to the
 * controller goes over this namespace's loopback, not through the enforcer.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { startController } from '../../apps/controller/src/main';
import { validateEnforcerConfig } from '../../apps/enforcer/src/config';
import type { DatapathPort, Direction } from '../../apps/enforcer/src/datapath.port';
import { Enforcer } from '../../apps/enforcer/src/enforcer';
import { Datapath } from '../../native/lib/datapath';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { until } from '../support/wait';

const topo: Topology = { prefix: 'cde', net: 233, sites: [{ name: 'client', index: 1 }, { name: 'server', index: 2 }] };
const client = site(topo, 'client');
const server = site(topo, 'server');
const netns = `/run/netns/${gatewayNs(topo)}`;
const AGENT = path.join(__dirname, '..', 'support', 'traffic-agent.js');
const PIN_NAME = 'test-e2e-enforcer';
const log = pino({ level: process.env.E2E_LOG ?? 'silent' });

/** The real datapath, attaching in the gateway namespace. */
async function gatewayDatapath(): Promise<DatapathPort> {
  const dp = await Datapath.open({ name: PIN_NAME });
  return Object.assign(Object.create(dp) as Datapath, {
    attach: (ifname: string, d: Direction) => dp.attach(ifname, d, { netns }),
    detach: (ifname: string, d: Direction) => dp.detach(ifname, d, { netns }),
  });
}

async function connect(port: number, timeoutMs = 1000): Promise<boolean> {
  const r = await runIn(client.ns, ['node', AGENT, 'connect', server.v4, String(port), String(timeoutMs)], 30000);
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}').ok === true;
}
async function serve(port: number) {
  const child = spawnIn(server.ns, ['node', AGENT, 'serve', String(port), '120', '4']);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const t0 = Date.now();
  while (!out.includes('ready') && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  return () => child.kill('SIGTERM');
}

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('enforcer + real datapath + controller (root)', () => {
  let dir: string;
  let ctl: Awaited<ReturnType<typeof startController>>;
  let admin: string;
  let grpcAddr: string;
  const stops: Array<() => void> = [];
  const enforcers: Enforcer[] = [];
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${ctl.url}${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: (await r.json().catch(() => null)) as any };
  };
  const docs = (ports: string[]) => [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'clients' }, spec: { cidrs: [client.subnet4, client.subnet6] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [server.subnet4, server.subnet6] } },
    { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'c2s' }, spec: { from: ['clients'], to: ['servers'], allow: [{ protocol: 'tcp', ports }] } },
  ];
  const startEnforcer = async (token?: string) => {
    const cfg = validateEnforcerConfig(
      { controller: grpcAddr, token, interface: gatewayInterfaces(topo), stateDir: path.join(dir, 'enforcer'), metrics: '127.0.0.1:0', name: 'gw-e2e', flowInterval: '300ms' },
      { datapath: await gatewayDatapath(), log },
    );
    const e = await new Enforcer(cfg).start();
    enforcers.push(e);
    return e;
  };
  const scrape = (e: Enforcer) => fetch(`http://127.0.0.1:${e.metricsPort}/metrics`).then((r) => r.text());

  beforeAll(async () => {
    up(topo);
    Datapath.removePins(PIN_NAME);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-e2e-enf-'));
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: path.join(dir, 'controller'), logLevel: 'silent' });
    grpcAddr = ctl.grpcAddress;
    admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    stops.push(await serve(7000), await serve(7001));
  });
  afterAll(async () => {
    for (const e of enforcers) await e.stop({ detach: true }).catch(() => undefined);
    for (const s of stops) s();
    await ctl?.close();
    down(topo);
    Datapath.removePins(PIN_NAME);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('e2e_1_enrolls_enforces_the_bundle_and_follows_a_policy_change', async () => {
    expect((await api('POST', '/v1/apply', { documents: docs(['7000']), dryRun: false })).status).toBeLessThan(300);
    const tok = await api('POST', '/v1/tokens', { kind: 'enrollment', ttl: '10m' });
    const e = await startEnforcer(tok.body.join); // token and CA pin
    await until('generation', async () => /^cordon_policy_generation [1-9]/m.test(await scrape(e)));
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001)).toBe(false);

    const before = e.enforcedGeneration;
    await api('POST', '/v1/apply', { documents: docs(['7000', '7001']), dryRun: false });
    await until('new generation', () => e.enforcedGeneration > before);
    expect(await connect(7001)).toBe(true);
  });

  test('e2e_2_flow_counters_reach_enforcer_and_controller_metrics', async () => {
    const e = enforcers[0];
    await connect(7000);
    const line = /cordon_flow_packets_total\{src_segment="clients",dst_segment="servers",verdict="allow"\} (\d+)/;
    await until('enforcer metric', async () => Number(line.exec(await scrape(e))?.[1] ?? 0) > 0);
    await until('controller metric', async () => Number(line.exec(await fetch(`${ctl.url}/metrics`).then((r) => r.text()))?.[1] ?? 0) > 0);
    const flows = await api('GET', '/v1/flows?verdict=allow');
    expect(flows.body.items.some((f: { dport: number; srcSegment: string }) => f.dport === 7000 && f.srcSegment === 'clients')).toBe(true);
  });

  test('e2e_3_enforcement_outlives_the_daemon_and_a_restart_adopts_without_token', async () => {
    const e = enforcers.shift()!;
    const gen = e.enforcedGeneration;
    await e.stop(); // SIGTERM path: no detach
    expect(await connect(7001)).toBe(true);
    await api('POST', '/v1/apply', { documents: docs(['7000']), dryRun: false }); // 7001 denied from now, once an enforcer runs
    expect(await connect(7001)).toBe(true); // nobody applied it yet: the last generation stays

    const e2 = await startEnforcer(); // no token: the stored certificate is used
    expect(e2.enforcedGeneration).toBeGreaterThanOrEqual(gen);
    await until('catch up', () => e2.enforcedGeneration > gen);
    expect(await connect(7001)).toBe(false);
    expect(await connect(7000)).toBe(true);
  });

  test('e2e_4_revoked_enforcer_keeps_enforcing_its_last_generation', async () => {
    const e = enforcers[0];
    expect((await api('POST', '/v1/enforcers/gw-e2e/revoke')).status).toBe(200);
    await until('disconnected', async () => /^cordon_controller_connected 0$/m.test(await scrape(e)));
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001)).toBe(false);
  });
});
