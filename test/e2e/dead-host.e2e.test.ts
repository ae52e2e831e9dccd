/**
 * Issue 14, a silently dead controller host: no RST, no FIN, the TCP
 * connection stays open in the kernel (SIGSTOP of the controller process; a
 * cut link or a DROP rule look the same to the enforcer). Two `cordon
 * controller` processes on one PostgreSQL, `cordon enforcer --netns` given
 * both: the enforcer's gRPC keepalive (proto/cordon/v1/control.ts KEEPALIVE)
 * gives the stopped one up (within 4 to 6 s) and the enforcer is served by the
 * other within 10 s (the default keepalive was 30 s + 10 s: 40 s), enforcing
 * throughout.
 * Needs root, bpffs, the built addon and PostgreSQL 15.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { gatewayInterfaces, gatewayNs, site, Topology, up, down, runIn, spawnIn } from '../../scripts/topology';
import { AGENT, Daemon, lastJson, runCordon } from '../support/site';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { freePort, until } from '../support/wait';

jest.setTimeout(240_000);

const topo: Topology = { prefix: 'cdead', net: 227, sites: [{ name: 'client', index: 1 }, { name: 'server', index: 2 }] };
const client = site(topo, 'client');
const server = site(topo, 'server');
const PIN = 'e2e-dead-host';
const NAME = 'gw-dead';

const value = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('issue 14: a controller host that dies silently (SIGSTOP)', () => {
  let pg: TestPostgres;
  let dir: string;
  const ctl: Record<'a' | 'b', { d: Daemon; url: string; grpc: string } | null> = { a: null, b: null };
  let enf: Daemon | null = null;
  let agent: ReturnType<typeof spawnIn> | null = null;
  let metricsPort = 0;

  const scrape = (url: string) => fetch(url, { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).catch(() => '');
  const connected = async (which: 'a' | 'b') => value(await scrape(`${ctl[which]!.url}/metrics`), /^cordon_enforcers_connected (\d+)$/m);
  const connect = async (port: number) => lastJson((await runIn(client.ns, ['node', AGENT, 'connect', server.v4, String(port), '400'], 10_000)).stdout).ok === true;
  const logs = () => `--- A:\n${ctl.a?.d.log ?? ''}\n--- B:\n${ctl.b?.d.log ?? ''}\n--- enforcer:\n${enf?.log ?? ''}`;

  beforeAll(async () => {
    pg = await startPostgres();
    const databaseUrl = await pg.createDatabase('deadhost');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-e2e-dead-'));
    fs.writeFileSync(path.join(dir, 'kek'), randomBytes(32), { mode: 0o600 });
    const env = { CORDON_KEK_FILE: path.join(dir, 'kek'), CORDON_EST: 'off' };
    up(topo);
    Datapath.removePins(PIN);
    metricsPort = await freePort();
    for (const which of ['a', 'b'] as const) {
      const d = new Daemon(`controller ${which}`, ['controller', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', '--data-dir', path.join(dir, which), '--database-url', databaseUrl, '--log-level', 'warn'], env);
      const m = await d.waitFor(/listening on (http:\/\/\S+) grpc (\S+) /);
      ctl[which] = { d, url: m[1], grpc: m[2] };
    }
    agent = spawnIn(server.ns, ['node', AGENT, 'serve', '7000', '200']);
    let out = '';
    agent.stdout!.on('data', (b) => (out += b));
    await until('a server on 7000', () => out.includes('ready'), 10_000);
  }, 180_000);

  afterAll(async () => {
    agent?.kill('SIGKILL');
    ctl.a?.d.child.kill('SIGCONT');
    await enf?.stop('SIGKILL');
    await ctl.a?.d.stop();
    await ctl.b?.d.stop();
    down(topo);
    Datapath.removePins(PIN);
    await pg?.stop();
    if (process.env.E2E_LOG) process.stderr.write(logs() + '\n');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('14_dead_host_e2e: SIGSTOP of the serving controller, the enforcer is served by the other within 10 s', async () => {
    try {
      const admin = fs.readFileSync(path.join(dir, 'a', 'admin.token'), 'utf8').trim();
      const apiEnv = { CORDON_SERVER: ctl.a!.url, CORDON_TOKEN: admin };
      const file = path.join(dir, 'site.json');
      fs.writeFileSync(file, [
        { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'clients' }, spec: { cidrs: [client.subnet4] } },
        { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [server.subnet4] } },
        { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'c2s' }, spec: { from: ['clients'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } },
      ].map((d) => JSON.stringify(d)).join('\n---\n'));
      expect((await runCordon(['apply', '-f', file], { env: apiEnv })).code).toBe(0);
      const tok = await runCordon(['token', 'create', '--ttl', '10m', '--output', 'json'], { env: apiEnv });
      expect(tok.code).toBe(0);
      enf = new Daemon('enforcer', [
        'enforcer', '--controller', ctl.a!.grpc, '--controller', ctl.b!.grpc, '--token', JSON.parse(tok.stdout).join,
        ...gatewayInterfaces(topo).flatMap((i) => ['--interface', i]),
        '--netns', `/run/netns/${gatewayNs(topo)}`, '--state-dir', path.join(dir, 'enf'), '--metrics', `127.0.0.1:${metricsPort}`,
        '--name', NAME, '--datapath-name', PIN,
      ]);
      await enf.waitFor(new RegExp(`cordon enforcer ${NAME} running`));
      await until('the enforcer on A', async () => (await connected('a')) === 1, 15_000);
      expect(await connect(7000)).toBe(true);

      const stoppedAt = Date.now();
      ctl.a!.d.child.kill('SIGSTOP');
      // B's own count says the enforcer's watch is open there (A cannot answer a scrape while stopped).
      await until('the enforcer on B', async () => (await connected('b')) === 1, 12_000, 100);
      const movedMs = Date.now() - stoppedAt;
      expect(movedMs).toBeLessThan(10_000);
      expect(value(await scrape(`http://127.0.0.1:${metricsPort}/metrics`), /^cordon_controller_moves_total (\d+)$/m)).toBeGreaterThanOrEqual(1);
      expect(await connect(7000)).toBe(true); // enforcing throughout
      process.stdout.write(`dead-host e2e: served by B ${movedMs} ms after A was stopped\n`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logs()}`);
    }
  });
});
