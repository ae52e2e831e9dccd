/**
 * Places, all real (DESIGN.md "Context: when and where"): one `cordon
 * controller`, two `cordon enforcer` processes with `--label site=plant-1` and
 * `--label site=plant-2`, each on its own gateway namespace between a client
 * and a server namespace that carry the same addresses. The same packet
 * (client 10.215.1.2 -> server 10.215.2.2, tcp 7000) is allowed through one
 * and dropped through the other; each enforcer holds only its own site's
 * entries (counted in what it applied and keeps); `cordon label enforcer`
 * changes what one enforces; `cordon trace --enforcer` says so beforehand.
 * Needs root, bpffs and the built addon; run under the kernel lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { AGENT, Daemon, freePort, lastJson, TestSite, until } from '../support/site';

const sites = [{ name: 'client', index: 1 }, { name: 'server', index: 2 }];
// Two gateways, the same addresses behind each: the same packet crosses either.
const topoA: Topology = { prefix: 'cpla', net: 215, sites };
const topoB: Topology = { prefix: 'cplb', net: 215, sites };
const client = site(topoA, 'client');
const server = site(topoA, 'server');
const PORT = 7000;

const seg = (name: string, cidrs: string[], enforcers?: Record<string, string>) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs, ...(enforcers ? { enforcers } : {}) } });
const DOCS = [
  seg('clients', [client.subnet4]),
  seg('servers', [server.subnet4]),
  // Cameras of each plant: their entries go only to that plant's enforcer.
  seg('plant1-cams', ['10.215.11.0/24', '10.215.12.0/24', '10.215.13.0/24'], { site: 'plant-1' }),
  seg('plant2-cams', ['10.215.21.0/24'], { site: 'plant-2' }),
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'clients-servers' }, spec: { from: ['clients'], to: ['servers'], allow: [{ protocol: 'tcp', ports: [PORT] }], enforcers: { site: 'plant-1' } } },
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'cams-servers' }, spec: { from: ['plant1-cams', 'plant2-cams'], to: ['servers'], allow: [{ protocol: 'udp' }] } },
];

/** A second enforcer on the same controller, on its own gateway (TestSite starts the first). */
class SecondEnforcer {
  enf: Daemon | null = null;
  metricsPort = 0;
  readonly pinName = 'test-gw-pl2';
  constructor(readonly s: TestSite, readonly name: string) {}
  get stateDir() {
    return path.join(this.s.dir, 'enf-2');
  }
  async start(labels: string[]): Promise<void> {
    up(topoB);
    Datapath.removePins(this.pinName);
    this.metricsPort = await freePort();
    const tok = await this.s.cli(['token', 'create', '--ttl', '10m', '--output', 'json']);
    if (tok.code !== 0) throw new Error(`cordon token create failed: ${tok.stderr}`);
    this.enf = new Daemon('enforcer 2', [
      'enforcer', '--controller', this.s.grpc, '--token', JSON.parse(tok.stdout).join,
      ...gatewayInterfaces(topoB).flatMap((i) => ['--interface', i]),
      '--netns', `/run/netns/${gatewayNs(topoB)}`, '--state-dir', this.stateDir, '--metrics', `127.0.0.1:${this.metricsPort}`,
      '--name', this.name, '--flow-interval', '300ms', '--datapath-name', this.pinName, ...labels.flatMap((l) => ['--label', l]),
    ]);
    await this.enf.waitFor(new RegExp(`cordon enforcer ${this.name} running`));
  }
  async close(): Promise<void> {
    await this.enf?.stop('SIGKILL').catch(() => undefined);
    try {
      down(topoB);
      Datapath.removePins(this.pinName);
    } catch {
      /* best effort */
    }
  }
}

/** The bundle an enforcer keeps (what it enforces, as it received it). */
const kept = (stateDir: string): { generation: number; hash: string; ipcache: { cidr: string }[]; policy: unknown[]; identities: Record<string, number> } =>
  JSON.parse(fs.readFileSync(path.join(stateDir, 'bundle.json'), 'utf8')).state;
const cidrsOf = (b: ReturnType<typeof kept>) => b.ipcache.map((e) => e.cidr).sort();
/** The entry counts of the last generation an enforcer applied, as it logs them. */
function applied(log: string): { ipcache: number; policy: number } | null {
  const lines = log.split('\n').filter((l) => l.includes('"generation applied"'));
  const j = lines.length ? lastJson(lines[lines.length - 1]) : null;
  return j ? { ipcache: j.ipcache, policy: j.policy } : null;
}

/** A server on PORT in a topology's server namespace; stopped by the returned function. */
async function serve(t: Topology): Promise<() => void> {
  const child = spawnIn(site(t, 'server').ns, ['node', AGENT, 'serve', String(PORT), '120']);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await until(`a server in ${t.prefix}`, () => out.includes('ready') || child.exitCode !== null, 10_000, 20);
  return () => child.kill('SIGKILL');
}
async function connect(t: Topology): Promise<boolean> {
  const r = await runIn(site(t, 'client').ns, ['node', AGENT, 'connect', server.v4, String(PORT), '800'], 15_000);
  return lastJson(r.stdout).ok === true;
}

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('places: two enforcers with different site labels on one controller (root)', () => {
  let s: TestSite;
  let b: SecondEnforcer;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    s = await TestSite.start({ topology: topoA, enforcer: 'gw-pl1', enforcerArgs: ['--label', 'site=plant-1'] });
    b = new SecondEnforcer(s, 'gw-pl2');
    try {
      await b.start(['site=plant-2', 'rack=r7']);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${b.enf?.log ?? ''}`);
    }
    stops.push(await serve(topoA), await serve(topoB));
  }, 120_000);
  afterAll(async () => {
    for (const stop of stops) stop();
    await b?.close();
    await s?.close();
  });

  it('allows the same packet through one and drops it through the other; each holds only its own site', async () => {
    const { generation } = await s.apply(DOCS);
    await s.waitEnforced(generation);
    await until('enforcer 2 to enforce the generation', async () => {
      const m = await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
      return Number(/^cordon_policy_generation (\d+)$/m.exec(m)?.[1] ?? -1) >= generation;
    }, 10_000, 20);

    expect(await connect(topoA)).toBe(true);
    expect(await connect(topoB)).toBe(false);

    // What each keeps and enforces: its own site's cameras only, the rest of the site alike.
    const a = kept(path.join(s.dir, 'enf'));
    const c = kept(b.stateDir);
    expect(cidrsOf(a)).toEqual(['10.215.1.0/24', '10.215.11.0/24', '10.215.12.0/24', '10.215.13.0/24', '10.215.2.0/24']);
    expect(cidrsOf(c)).toEqual(['10.215.1.0/24', '10.215.2.0/24', '10.215.21.0/24']);
    expect(Object.keys(c.identities)).not.toContain('plant1-cams');
    // Its applied counts (bundle entries, before this host's own): 5 and 3 ipcache entries;
    // plant 1 has two more policy entries (clients -> servers tcp 7000, plant1-cams -> servers udp) than plant 2 (plant2-cams -> servers udp).
    expect(applied(s.enf!.log)).toMatchObject({ ipcache: 5 });
    expect(applied(b.enf!.log)).toMatchObject({ ipcache: 3 });
    expect(a.policy.length - c.policy.length).toBe(1);

    // The controller's view of them; trace says what each would do.
    const got = await s.cli(['get', 'enforcers', '-l', 'site=plant-2', '-o', 'json']);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject([{ name: 'gw-pl2', labels: { site: 'plant-2', rack: 'r7' } }]);
    // labels are a wide column (as kubectl shows them with --show-labels); the default table is the fleet status
    const table = await s.cli(['get', 'enforcers', '-o', 'wide']);
    expect(table.stdout).toMatch(/gw-pl1\s.*site=plant-1/);
    expect((await s.cli(['get', 'enforcers'])).stdout).toMatch(/gw-pl1\s+\S+\s+\d+\/\d+\s+yes/);
    const t1 = await s.cli(['trace', '--from', client.v4, '--to', server.v4, '--protocol', 'tcp', '--port', String(PORT), '--enforcer', 'gw-pl1']);
    const t2 = await s.cli(['trace', '--from', client.v4, '--to', server.v4, '--protocol', 'tcp', '--port', String(PORT), '--enforcer', 'gw-pl2']);
    expect(t1.stdout).toMatch(/^allow/);
    expect(t1.stdout).toMatch(/on\s+enforcer gw-pl1 \(site=plant-1\)/);
    expect(t2.stdout).toMatch(/^deny/);
  }, 90_000);

  it('cordon label enforcer moves an enforcer to the other site: it enforces that site\'s policy at once', async () => {
    const r = await s.cli(['label', 'enforcer', 'gw-pl2', 'site=plant-1', 'rack-']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/enforcer\/gw-pl2 labelled: site=plant-1$/m);
    await until('enforcer 2 to hold plant 1\'s entries', () => cidrsOf(kept(b.stateDir)).includes('10.215.11.0/24'), 10_000, 20);
    expect(cidrsOf(kept(b.stateDir))).toEqual(cidrsOf(kept(path.join(s.dir, 'enf'))));
    expect(kept(b.stateDir).hash).toBe(kept(path.join(s.dir, 'enf')).hash);
    await until('the packet to pass through enforcer 2', () => connect(topoB), 10_000, 200);
    expect(await connect(topoA)).toBe(true);

    // Back to what it reports (--label site=plant-2): dropped again; both changes audited.
    expect((await s.cli(['label', 'enforcer', 'gw-pl2', '--reset'])).code).toBe(0);
    await until('enforcer 2 back at plant 2', () => cidrsOf(kept(b.stateDir)).includes('10.215.21.0/24'), 10_000, 20);
    expect(await connect(topoB)).toBe(false);
    const audit = await s.api('GET', '/v1/audit');
    const labels = (audit.body.items as { action: string; target: string }[]).filter((e) => e.action === 'enforcer.label');
    expect(labels.map((e) => e.target)).toEqual(['gw-pl2', 'gw-pl2']);
    // Bad input is refused with the reason, and nothing changes.
    const bad = await s.cli(['label', 'enforcer', 'gw-pl2', 'site=not valid']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/value/);
  }, 90_000);
});
