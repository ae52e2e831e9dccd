/**
 * End to end, all real: `cordon controller` and `cordon enforcer --netns` run as
 * processes from the built CLI (bin/cordon.js -> dist), policies go in with
 * `cordon apply`, and packets cross a gateway namespace between a client and a
 * server namespace. Needs root, bpffs and the built addon (npm run build).
 *
 * Ports on the server: 7000 allowed (tcp and udp), 7001 denied, 7002 allowed
 * only by the second policy (applied after the controller came back).
 */
import 'reflect-metadata';
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Datapath } from '../../native/lib/datapath';
import { controlClient } from '../../proto/cordon/v1/client';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { freePort, until } from '../support/wait';
import { ensureCliBuilt } from '../support/cli-build';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'cordon.js');
const AGENT = path.join(ROOT, 'test', 'support', 'traffic-agent.js');
const topo: Topology = { prefix: 'cpx', net: 234, sites: [{ name: 'client', index: 1 }, { name: 'server', index: 2 }] };
const client = site(topo, 'client');
const server = site(topo, 'server');
const NETNS = `/run/netns/${gatewayNs(topo)}`;
const PIN_NAME = 'e2e-processes';
/** The bound a policy change must be enforced within, from `cordon apply` returning. */
const APPLY_BOUND_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A daemon started from the CLI, with its stderr kept for the failure message. */
class Daemon {
  readonly child: ChildProcess;
  log = '';
  exited: Promise<number | null>;
  constructor(readonly what: string, args: string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CORDON_TOKEN: '', CORDON_SERVER: '' } });
    this.child.stdout!.on('data', (d) => (this.log += d));
    this.child.stderr!.on('data', (d) => (this.log += d));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }
  async waitFor(re: RegExp, ms = 30000): Promise<RegExpExecArray> {
    await until(`${this.what} to print ${re}`, () => re.test(this.log) || this.child.exitCode !== null, ms);
    const m = re.exec(this.log);
    if (!m) throw new Error(`${this.what} exited (${this.child.exitCode}) before ${re}:\n${this.log}`);
    return m;
  }
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(sig);
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (t = setTimeout(r, 10000)))]);
    clearTimeout(t);
  }
}

function cli(args: string[], timeoutMs = 30000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env: { ...process.env, CORDON_TOKEN: '', CORDON_SERVER: '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A traffic-agent server in the server namespace; stop() returns its counters. */
async function serve(port: number) {
  const child = spawnIn(server.ns, ['node', AGENT, 'serve', String(port), '170']);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await until(`server on ${port}`, () => out.includes('ready'), 5000);
  return {
    async stop(): Promise<{ tcpConnections: number; tcpBytes: number; udpDatagrams: number }> {
      child.kill('SIGTERM');
      await until(`server ${port} stats`, () => out.trim().split('\n').length >= 2 || child.exitCode !== null, 5000);
      return JSON.parse(out.trim().split('\n').pop()!);
    },
    kill: () => child.kill('SIGKILL'),
  };
}
async function connect(port: number, timeoutMs = 800): Promise<boolean> {
  const r = await runIn(client.ns, ['node', AGENT, 'connect', server.v4, String(port), String(timeoutMs)], 10000);
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}').ok === true;
}
const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop() || '{}');

const policy = (extraTcp: string[] = []) => `
apiVersion: cordon/v1
kind: Segment
metadata: { name: clients }
spec: { cidrs: [${client.subnet4}, "${client.subnet6}"] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: servers }
spec: { cidrs: [${server.subnet4}, "${server.subnet6}"] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: clients-to-servers }
spec:
  from: [clients]
  to: [servers]
  allow:
    - { protocol: tcp, ports: ["7000"${extraTcp.map((p) => `, "${p}"`).join('')}] }
    - { protocol: udp, ports: ["7000"] }
`;

const metric = (text: string, name: string, labels: Record<string, string>) => {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
  const m = new RegExp(`^${name}\\{${l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('cordon controller + cordon enforcer --netns as processes (root)', () => {
  let dir: string;
  let ctl: Daemon | null = null;
  let enf: Daemon | null = null;
  let url = '';
  let grpcAddr = '';
  let admin = '';
  let metricsPort = 0;
  const servers: Array<Awaited<ReturnType<typeof serve>>> = [];
  const ctlArgs = () => ['controller', '--http', url ? url.replace('http://', '') : '127.0.0.1:0', '--grpc', grpcAddr || '127.0.0.1:0', '--data-dir', path.join(dir, 'ctl'), '--log-level', 'warn'];
  const enfArgs = (token?: string) => [
    'enforcer', '--controller', grpcAddr, ...(token ? ['--token', token] : []), ...gatewayInterfaces(topo).flatMap((i) => ['--interface', i]),
    '--netns', NETNS, '--state-dir', path.join(dir, 'enf'), '--metrics', `127.0.0.1:${metricsPort}`, '--name', 'gw-proc',
    '--flow-interval', '500ms', '--datapath-name', PIN_NAME,
  ];
  const startController = async () => {
    ctl = new Daemon('controller', ctlArgs());
    const m = await ctl.waitFor(/listening on (http:\/\/\S+) grpc (\S+) /);
    url = m[1];
    grpcAddr = m[2];
    admin = fs.readFileSync(path.join(dir, 'ctl', 'admin.token'), 'utf8').trim();
  };
  const startEnforcer = async (token?: string) => {
    enf = new Daemon('enforcer', enfArgs(token));
    await enf.waitFor(/cordon enforcer gw-proc running/);
  };
  const scrapeEnforcer = () => fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
  const scrapeController = () => fetch(`${url}/metrics`).then((r) => r.text()).catch(() => '');
  const enforcedGeneration = async () => Number(/^cordon_policy_generation (\d+)$/m.exec(await scrapeEnforcer())?.[1] ?? -1);
  const apply = async (yaml: string) => {
    const f = path.join(dir, `policy-${Date.now()}.yaml`);
    fs.writeFileSync(f, yaml);
    const r = await cli(['apply', '-f', f, '--server', url, '--token', admin, '--output', 'json']);
    if (r.code !== 0) throw new Error(`cordon apply failed (${r.code}): ${r.stderr}`);
    return { generation: Number(JSON.parse(r.stdout).generation), at: Date.now() };
  };

  beforeAll(async () => {
    // The CLI runs from dist: built from the sources as they are.
    ensureCliBuilt();
    up(topo);
    Datapath.removePins(PIN_NAME);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-e2e-proc-'));
    metricsPort = await freePort();
    await startController();
    for (const p of [7000, 7001, 7002]) servers.push(await serve(p));
  }, 120_000);

  afterAll(async () => {
    await enf?.kill();
    await ctl?.kill();
    for (const s of servers) s.kill();
    down(topo); // the gateway's interfaces, and the programs attached to them, go with it
    Datapath.removePins(PIN_NAME);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (process.env.E2E_LOG) process.stderr.write(`controller:\n${ctl?.log}\nenforcer:\n${enf?.log}\n`);
  }, 60_000);

  test('proc_a_bad_netns_is_refused_at_boot_with_a_clear_message', async () => {
    const r = await cli(['enforcer', '--controller', grpcAddr, '--interface', 'eth0', '--netns', '/run/netns/cordon-no-such-ns']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--netns \/run\/netns\/cordon-no-such-ns: no such file/);
  });

  test('proc_a_allowed_passes_and_denied_is_dropped_within_a_bound_of_apply_and_the_generation_shows', async () => {
    const tok = await cli(['token', 'create', '--ttl', '10m', '--server', url, '--token', admin, '--output', 'json']);
    expect(tok.code).toBe(0);
    await startEnforcer(JSON.parse(tok.stdout).join); // token and CA pin
    expect(await enforcedGeneration()).toBe(0); // exposed from the start, before any bundle

    const { generation, at } = await apply(policy());
    expect(generation).toBeGreaterThan(0);
    await until('the generation in the kernel', async () => (await enforcedGeneration()) === generation, APPLY_BOUND_MS, 20);
    await until('7001 dropped', async () => !(await connect(7001, 300)), APPLY_BOUND_MS);
    expect(Date.now() - at).toBeLessThan(APPLY_BOUND_MS + 1000);
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001)).toBe(false);
    // The enforcer's status reaches the controller: `cordon get enforcers`.
    await until('cordon get enforcers shows the generation', async () => {
      const r = await cli(['get', 'enforcers', '--server', url, '--token', admin, '--output', 'json']);
      return r.code === 0 && r.stdout.includes('gw-proc') && new RegExp(`"generation":\\s*${generation}\\b`).test(r.stdout);
    }, 10000, 300);
  });

  test('proc_d_counters_for_real_traffic_reach_both_metrics_with_segment_labels', async () => {
    for (let i = 0; i < 3; i++) expect(await connect(7000)).toBe(true);
    expect(await connect(7001, 300)).toBe(false);
    const allow = { src_segment: 'clients', dst_segment: 'servers', verdict: 'allow' };
    const deny = { src_segment: 'clients', dst_segment: 'servers', verdict: 'deny' };
    await until('enforcer metrics', async () => {
      const t = await scrapeEnforcer();
      return metric(t, 'cordon_flow_packets_total', allow) > 0 && metric(t, 'cordon_flow_packets_total', deny) > 0 && metric(t, 'cordon_drops_total', { reason: 'policy' }) > 0;
    });
    await until('controller metrics', async () => {
      const t = await scrapeController();
      return (
        metric(t, 'cordon_flow_packets_total', allow) > 0 &&
        metric(t, 'cordon_flow_bytes_total', allow) > 0 &&
        metric(t, 'cordon_flow_packets_total', deny) > 0 &&
        metric(t, 'cordon_drops_total', { reason: 'policy' }) > 0 &&
        metric(t, 'cordon_security_events_total', { verdict: 'deny', reason: 'policy' }) > 0
      );
    });
    // No allowed flow between these segments was counted as denied the other way round.
    expect(metric(await scrapeController(), 'cordon_flow_packets_total', { src_segment: 'servers', dst_segment: 'clients', verdict: 'deny' })).toBe(0);
    const flows = await cli(['flows', '--server', url, '--token', admin, '--output', 'json', '--verdict', 'deny']);
    // A list is a bare JSON array on every command since issue 17 (it was {items} here alone).
    expect(JSON.parse(flows.stdout).some((f: { dport: number; srcSegment: string }) => f.dport === 7001 && f.srcSegment === 'clients')).toBe(true);
  });

  test('proc_b_controller_killed_enforcement_continues_and_the_enforcer_catches_up', async () => {
    const before = await enforcedGeneration();
    await ctl!.kill('SIGKILL');
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001, 300)).toBe(false);
    await until('the enforcer notices', async () => /^cordon_controller_connected 0$/m.test(await scrapeEnforcer()), 15000, 200);
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001, 300)).toBe(false);
    expect(await enforcedGeneration()).toBe(before);

    await startController(); // same data dir, same addresses
    const { generation } = await apply(policy(['7002']));
    expect(generation).toBeGreaterThan(before);
    // The enforcer reconnects with backoff (≤ a few seconds after a short outage), then applies.
    await until('the enforcer catches up', async () => (await enforcedGeneration()) === generation, 40000, 100);
    expect(await connect(7002)).toBe(true);
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001, 300)).toBe(false);
  }, 90_000);

  test('proc_c_enforcer_sigkilled_under_traffic_restarts_without_token_and_loses_nothing', async () => {
    const allowedUdp = 2000; // 2 ms apart: 4 s
    const deniedUdp = 2000;
    const [s7000, s7001] = [servers[0], servers[1]];
    // Fresh counters for the two servers this test reads.
    await s7000.stop();
    await s7001.stop();
    servers[0] = await serve(7000);
    servers[1] = await serve(7001);

    const stream = runIn(client.ns, ['node', AGENT, 'stream', server.v4, '7000', '6'], 30000);
    const udpOk = runIn(client.ns, ['node', AGENT, 'udp', server.v4, '7000', String(allowedUdp)], 30000);
    const udpDenied = runIn(client.ns, ['node', AGENT, 'udp', server.v4, '7001', String(deniedUdp)], 30000);
    await sleep(1500);
    const genBefore = await enforcedGeneration();
    await enf!.kill('SIGKILL');
    expect(await connect(7001, 300)).toBe(false); // no daemon: the kernel still enforces
    await sleep(500);
    await startEnforcer(); // no --token: the certificate in --state-dir
    await until('the restarted enforcer serves its generation', async () => (await enforcedGeneration()) === genBefore, 10000);

    const [st, uo, ud] = await Promise.all([stream, udpOk, udpDenied]);
    const streamStats = lastJson(st.stdout);
    expect(streamStats.sent).toBeGreaterThan(500);
    expect(streamStats).toMatchObject({ errors: 0, echoed: streamStats.sent });
    expect(lastJson(uo.stdout)).toEqual({ sent: allowedUdp });
    expect(lastJson(ud.stdout)).toEqual({ sent: deniedUdp });
    await sleep(200);
    const ok = await servers[0].stop();
    const denied = await servers[1].stop();
    expect(ok.udpDatagrams).toBe(allowedUdp); // not one allowed datagram lost across the kill and restart
    expect(denied.udpDatagrams).toBe(0); // not one denied datagram passed
    expect(denied.tcpConnections).toBe(0);
    expect(/adopt|generation applied|enforcer started/.test(enf!.log)).toBe(true);
  }, 60_000);

  test('proc_e_a_revoked_certificate_is_refused_and_the_enforcer_keeps_enforcing', async () => {
    const r = await cli(['enforcer', 'revoke', 'gw-proc', '--server', url, '--token', admin, '--output', 'json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'gw-proc' });
    // The enforcer's own (now revoked) certificate, straight from its state directory.
    const state = path.join(dir, 'enf');
    const [keyPem, certPem, caPem] = ['key.pem', 'cert.pem', 'ca.pem'].map((f) => fs.readFileSync(path.join(state, f), 'utf8'));
    const c = controlClient(grpcAddr, { caPem, certPem, keyPem });
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = c.WatchBundles({ enforcer: 'gw-proc', lastGeneration: 0, lastHash: '' });
      call.on('data', () => undefined);
      call.on('error', (e: grpc.ServiceError) => resolve(e));
      call.on('end', () => resolve(null));
    });
    c.close();
    expect(err).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect(await connect(7002)).toBe(true); // (7000's server was stopped by proc_c to read its counters)
    expect(await connect(7001, 300)).toBe(false);
  });
});
