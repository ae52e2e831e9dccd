// SPDX-License-Identifier: Apache-2.0
/**
 * A whole site for end-to-end tests: namespaces joined by a gateway
 * (scripts/topology.ts), `cordon controller` and `cordon enforcer --netns` as
 * real processes of the CLI, and the client side (REST, the CLI, traffic).
 *
 *   const s = await TestSite.start({ topology, enforcer: 'gw-mon', controllerArgs: ['--learning-window', '3s'] });
 *   try { await s.apply(docs); await s.connect('client', s.addr('server').v4, 7000); } finally { await s.close(); }
 *
 * The CLI runs from source (node --import tsx apps/cli/src/main.ts), so a test
 * sees the working tree without a build; set CORDON_E2E_CLI=dist to run the
 * built bin/cordon.js instead (npm run build:ts first). The enforcer stays in
 * this namespace (gRPC and /metrics on loopback) and attaches to the gateway's
 * interfaces through --netns; its pins are under its own --datapath-name.
 *
 * Everything start() made is undone by close(), which never throws and is safe
 * to call after a start() that failed halfway (start() calls it itself then).
 * Every wait is bounded and says what it waited for.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { freePort, sleep, until } from './wait';
import { down, gatewayInterfaces, gatewayNs, runIn, site, SiteAddresses, spawnIn, Topology, up } from '../../scripts/topology';

export { freePort, until } from './wait';

export const ROOT = path.resolve(__dirname, '..', '..');
export const AGENT = path.join(ROOT, 'test', 'support', 'traffic-agent.js');


export const lastJson = (s: string): any => {
  const line = s.trim().split('\n').pop();
  try {
    return JSON.parse(line || '{}');
  } catch {
    return {};
  }
};

/** How to run `cordon`: from source with tsx (default) or the built CLI. */
export function cliCommand(): string[] {
  if (process.env.CORDON_E2E_CLI === 'dist') return [path.join(ROOT, 'bin', 'cordon.js')];
  return ['--import', 'tsx', path.join(ROOT, 'apps', 'cli', 'src', 'main.ts')];
}

/** No CORDON_* from the caller's shell leaks into the processes a test starts. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('CORDON_') && k !== 'CORDON_E2E_CLI') delete env[k];
  return { ...env, ...extra };
}

/** A daemon started from the CLI; its output is kept for failure messages. */
export class Daemon {
  readonly child: ChildProcess;
  log = '';
  readonly exited: Promise<number | null>;
  constructor(
    readonly what: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(process.execPath, [...cliCommand(), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(env) });
    this.child.stdout!.on('data', (d) => (this.log = (this.log + d).slice(-200_000)));
    this.child.stderr!.on('data', (d) => (this.log = (this.log + d).slice(-200_000)));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async waitFor(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
    await until(`${this.what} to print ${re}`, () => re.test(this.log) || !this.running, ms);
    const m = re.exec(this.log);
    if (!m) throw new Error(`${this.what} exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${re}:\n${this.log}`);
    return m;
  }
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`); bounded. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill(sig);
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
    if (this.running) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, sleep(3000)]);
    }
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One `cordon …` invocation as a process, bounded by `timeoutMs`. */
export function runCordon(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliCommand(), ...args], { cwd: ROOT, timeout: opts.timeoutMs ?? 60_000, env: cleanEnv(opts.env), maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
    );
  });
}

export interface SiteOptions {
  topology: Topology;
  /** Enforcer name; also the --datapath-name of its pins (test-<name>). */
  enforcer: string;
  /** Extra `cordon controller` flags, e.g. ['--learning-window', '3s', '--syslog', 'tcp://127.0.0.1:5514']. */
  controllerArgs?: string[];
  /** Extra environment of the controller (e.g. CORDON_MONITORING_TICK). */
  controllerEnv?: NodeJS.ProcessEnv;
  /** --flow-interval of the enforcer (default 300ms, so flows reach the controller quickly). */
  flowInterval?: string;
  /** Extra `cordon enforcer` flags, e.g. ['--failsafe', 'none']. */
  enforcerArgs?: string[];
  /** Extra environment of the enforcer (e.g. the test-only CORDON_TEST_CLOCK_OFFSET_MS). */
  enforcerEnv?: NodeJS.ProcessEnv;
}

/** A traffic-agent server in a namespace; stop() returns its counters. */
export interface AgentServer {
  stop(): Promise<{ tcpConnections: number; tcpBytes: number; udpDatagrams: number }>;
  kill(): void;
}

export class TestSite {
  readonly dir: string;
  readonly pinName: string;
  ctl: Daemon | null = null;
  enf: Daemon | null = null;
  url = '';
  grpc = '';
  admin = '';
  metricsPort = 0;
  private readonly children = new Set<ChildProcess>();
  private closed = false;

  private constructor(readonly opts: SiteOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `cordon-site-${opts.enforcer}-`));
    this.pinName = `test-${opts.enforcer}`;
  }

  get topology(): Topology {
    return this.opts.topology;
  }
  get netns(): string {
    return `/run/netns/${gatewayNs(this.opts.topology)}`;
  }
  addr(name: string): SiteAddresses {
    return site(this.opts.topology, name);
  }

  /** Namespaces up, controller started, enforcer enrolled and running. */
  static async start(opts: SiteOptions): Promise<TestSite> {
    const s = new TestSite(opts);
    try {
      up(opts.topology);
      Datapath.removePins(s.pinName);
      s.metricsPort = await freePort();
      await s.startController();
      const tok = await s.cli(['token', 'create', '--ttl', '10m', '--output', 'json']);
      if (tok.code !== 0) throw new Error(`cordon token create failed (${tok.code}): ${tok.stderr}`);
      await s.startEnforcer(JSON.parse(tok.stdout).join); // token and CA pin
      return s;
    } catch (err) {
      const logs = s.logs();
      await s.close();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
  }

  async startController(): Promise<void> {
    const args = [
      'controller',
      '--http', this.url ? this.url.replace('http://', '') : '127.0.0.1:0',
      '--grpc', this.grpc || '127.0.0.1:0',
      '--data-dir', path.join(this.dir, 'ctl'),
      '--log-level', 'warn',
      ...(this.opts.controllerArgs ?? []),
    ];
    this.ctl = new Daemon('controller', args, this.opts.controllerEnv);
    const m = await this.ctl.waitFor(/listening on (http:\/\/\S+) grpc (\S+) /);
    this.url = m[1];
    this.grpc = m[2];
    this.admin = fs.readFileSync(path.join(this.dir, 'ctl', 'admin.token'), 'utf8').trim();
  }

  async startEnforcer(token?: string): Promise<void> {
    const args = [
      'enforcer', '--controller', this.grpc, ...(token ? ['--token', token] : []),
      ...gatewayInterfaces(this.opts.topology).flatMap((i) => ['--interface', i]),
      '--netns', this.netns, '--state-dir', path.join(this.dir, 'enf'), '--metrics', `127.0.0.1:${this.metricsPort}`,
      '--name', this.opts.enforcer, '--flow-interval', this.opts.flowInterval ?? '300ms', '--datapath-name', this.pinName,
      ...(this.opts.enforcerArgs ?? []),
    ];
    this.enf = new Daemon('enforcer', args, this.opts.enforcerEnv);
    await this.enf.waitFor(new RegExp(`cordon enforcer ${this.opts.enforcer} running`));
  }

  logs(): string {
    return `--- controller:\n${this.ctl?.log ?? ''}\n--- enforcer:\n${this.enf?.log ?? ''}`;
  }

  /** Undoes everything; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    await this.enf?.stop('SIGKILL').catch(() => undefined);
    await this.ctl?.stop('SIGTERM').catch(() => undefined);
    try {
      down(this.opts.topology); // the gateway's interfaces, and the programs on them, go with it
    } catch {
      /* best effort */
    }
    try {
      Datapath.removePins(this.pinName);
    } catch {
      /* best effort */
    }
    if (process.env.E2E_LOG) process.stderr.write(this.logs() + '\n');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- the client side --------------------------------------------------------

  async api(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(`${this.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${this.admin}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: r.status, body: parsed };
  }

  /** `cordon ARGS --server URL --token ADMIN` (client commands only). */
  cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return runCordon(args, { env: { CORDON_SERVER: this.url, CORDON_TOKEN: this.admin }, timeoutMs });
  }

  /** Applies documents through REST; returns the new generation. Throws with the problem on refusal. */
  async apply(documents: unknown[]): Promise<{ generation: number; body: any }> {
    const r = await this.api('POST', '/v1/apply', { documents, dryRun: false });
    if (r.status >= 300) throw new Error(`apply refused (${r.status}): ${JSON.stringify(r.body)}`);
    return { generation: Number(r.body.generation), body: r.body };
  }

  async scrapeEnforcer(): Promise<string> {
    return fetch(`http://127.0.0.1:${this.metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.text())
      .catch(() => '');
  }

  async enforcedGeneration(): Promise<number> {
    return Number(/^cordon_policy_generation (\d+)$/m.exec(await this.scrapeEnforcer())?.[1] ?? -1);
  }

  /** Waits until the enforcer's datapath enforces at least `generation`; returns the ms waited. */
  async waitEnforced(generation: number, ms = 10_000): Promise<number> {
    const t0 = Date.now();
    await until(`the enforcer to enforce generation ${generation}`, async () => (await this.enforcedGeneration()) >= generation, ms, 20);
    return Date.now() - t0;
  }

  /** The controller's newest generation. */
  async currentGeneration(): Promise<number> {
    return Number((await this.api('GET', '/v1/bundles/current')).body?.generation ?? 0);
  }

  // ---- traffic ------------------------------------------------------------------

  /** Runs a command in a site's namespace, bounded; the process is killed by close() if still running. */
  spawnIn(siteName: string, cmd: string[]): ChildProcess {
    const c = spawnIn(this.addr(siteName).ns, cmd);
    this.children.add(c);
    c.on('exit', () => this.children.delete(c));
    return c;
  }

  runIn(siteName: string, cmd: string[], timeoutMs = 15_000) {
    return runIn(this.addr(siteName).ns, cmd, timeoutMs);
  }

  /** A traffic-agent server (TCP echo and UDP counter, v4 and v6) on `port` in `siteName`. */
  async serve(siteName: string, port: number, seconds = 300): Promise<AgentServer> {
    const child = this.spawnIn(siteName, ['node', AGENT, 'serve', String(port), String(seconds)]);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await until(`a server on ${siteName}:${port}`, () => out.includes('ready') || child.exitCode !== null, 10_000, 20);
    if (!out.includes('ready')) throw new Error(`the server on ${siteName}:${port} exited: ${out}`);
    return {
      async stop() {
        child.kill('SIGTERM');
        await until(`server ${siteName}:${port} stats`, () => out.trim().split('\n').length >= 2 || child.exitCode !== null, 5000);
        return lastJson(out);
      },
      kill: () => child.kill('SIGKILL'),
    };
  }

  /** One TCP round trip from a site's namespace: true when it was echoed. */
  async connect(from: string, host: string, port: number, timeoutMs = 800): Promise<boolean> {
    const r = await this.runIn(from, ['node', AGENT, 'connect', host, String(port), String(timeoutMs)], timeoutMs + 10_000);
    return lastJson(r.stdout).ok === true;
  }

  /** COUNT UDP datagrams from a site's namespace. */
  async udp(from: string, host: string, port: number, count: number): Promise<number> {
    const r = await this.runIn(from, ['node', AGENT, 'udp', host, String(port), String(count)], count * 10 + 10_000);
    return Number(lastJson(r.stdout).sent ?? 0);
  }
}
