// SPDX-License-Identifier: Apache-2.0
/**
 * What the control-channel benches share: a `cordon controller` child process
 * (run from the TypeScript sources through tsx, so no build is needed), REST
 * helpers, a one-interface gateway namespace for a real enforcer, percentiles.
 * Everything started here is stopped by cleanup(), also on failure.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Datapath } from '../../native/lib/datapath';
import { packet, TCP_FLAGS } from '../../test/support/packets';

export const ROOT = path.resolve(__dirname, '..', '..');
const cleanups: Array<() => void | Promise<void>> = [];
export const onCleanup = (f: () => void | Promise<void>) => cleanups.push(f);
export async function cleanup(): Promise<void> {
  for (const f of cleanups.splice(0).reverse()) await Promise.resolve(f()).catch(() => undefined);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (s: string) => process.stderr.write(`${s}\n`);

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))].toFixed(2);
}

/** fn(0..n-1), at most `concurrency` at a time; the results in order. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

export interface Controller {
  url: string;
  grpc: string;
  admin: string;
  child: ChildProcess;
  api<T = unknown>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

/** `cordon controller` on loopback with fresh state, its addresses read from its start line. */
/** adminToken: another controller's of a shared database (only the first one writes admin.token). */
export async function startController(extra: string[] = [], env: NodeJS.ProcessEnv = {}, adminToken?: string): Promise<Controller> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-ctl-'));
  // BENCH_CONTROLLER_PROF=DIR: a V8 CPU profile of the controller, to see where its time goes.
  const prof = process.env.BENCH_CONTROLLER_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CONTROLLER_PROF] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(ROOT, 'apps/cli/src/main.ts'), 'controller', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', '--data-dir', dir, '--log-level', 'warn', ...extra], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.on('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGTERM') process.stderr.write(`controller exited (${code ?? sig}):\n${err.slice(-4000)}\n`);
  });
  const t0 = Date.now();
  let m: RegExpExecArray | null = null;
  while (!(m = /listening on (http:\/\/\S+) grpc (\S+) /.exec(err))) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`the controller did not start:\n${err}`);
    await sleep(50);
  }
  const admin = adminToken ?? fs.readFileSync(path.join(dir, 'admin.token'), 'utf8').trim();
  const url = m[1];
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const t = Date.now();
      while (child.exitCode === null && Date.now() - t < 5000) await sleep(50);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  onCleanup(stop);
  return {
    url,
    grpc: m[2],
    admin,
    child,
    stop,
    async api(method, p, body) {
      const r = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : null) as never };
    },
  };
}

/** The join string (token and CA pin), what an enforcer's --token takes; the controller takes it for Enroll too. */
export async function enrollmentToken(ctl: Controller): Promise<string> {
  const r = await ctl.api<{ join: string }>('POST', '/v1/tokens', { kind: 'enrollment', ttl: '1h' });
  if (r.status >= 300) throw new Error(`token create: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.join;
}

/** Two segments and a policy whose allowed port is `port`: each new port is a new generation. */
export function sitePolicy(port: number, extraSegments = 0) {
  const docs: unknown[] = [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: ['10.10.9.0/24'] } },
    { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'sensors-to-broker' }, spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: [String(port)] }] } },
  ];
  for (let i = 0; i < extraSegments; i++) docs.push({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: `s${i}` }, spec: { cidrs: [`10.${20 + (i >> 8)}.${i & 255}.0/24`] } });
  return docs;
}

/** Applies documents; resolves when the REST call answered 200, with the new generation and that instant. */
export async function apply(ctl: Controller, documents: unknown[]): Promise<{ generation: number; ackAt: number }> {
  const r = await ctl.api<{ generation: number }>('POST', '/v1/apply', { documents, dryRun: false });
  const ackAt = performance.now();
  if (r.status !== 200 && r.status !== 201) throw new Error(`apply: ${r.status} ${JSON.stringify(r.body)}`);
  return { generation: r.body.generation, ackAt };
}

/** A namespace holding a veth pair: interfaces a real enforcer can attach to (no traffic needed). */
export function gatewayNamespace(name: string): { netns: string; ifname: string } {
  const sh = (...a: string[]) => execFileSync(a[0], a.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    sh('ip', 'netns', 'del', name);
  } catch {
    /* not there */
  }
  sh('ip', 'netns', 'add', name);
  sh('ip', 'netns', 'exec', name, 'ip', 'link', 'add', 'bench0', 'type', 'veth', 'peer', 'name', 'bench1');
  sh('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'bench0', 'up');
  sh('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'bench1', 'up');
  onCleanup(() => {
    try {
      sh('ip', 'netns', 'del', name);
    } catch {
      /* gone */
    }
  });
  return { netns: `/run/netns/${name}`, ifname: 'bench0' };
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${what}: run as root (it loads eBPF programs and makes namespaces)\n`);
    process.exit(1);
  }
}

/** Runs main, prints its result as one JSON line, and cleans up whatever happens. */
export function run(main: () => Promise<unknown>): void {
  const stop = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  main()
    .then(async (r) => {
      await cleanup();
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    })
    .catch(async (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      await cleanup();
      process.exit(1);
    });
}

/** Clients in 10.64.0.0/10, one server: one allowed TCP flow per (src, sport). */
export const FLOW_SITE = [
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'clients' }, spec: { cidrs: ['10.64.0.0/10'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: ['10.2.0.0/16'] } },
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'clients-to-servers' }, spec: { from: ['clients'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['5201'] }] } },
];

/** Runs the program on one packet of each of n flows (a SYN first, an ACK on later rounds), 16 at a time. */
export async function touchFlows(dp: Datapath, n: number, round: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  let passed = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        const src = `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
        const p = packet({ src, dst: '10.2.0.9', protocol: 'tcp', sport: 40000 + (i % 20000), dport: 5201, tcpFlags: round === 0 ? TCP_FLAGS.SYN : TCP_FLAGS.ACK });
        if ((await dp.testRun(p)).passed) passed++;
      }
    }),
  );
  if (passed < n * 0.99) throw new Error(`only ${passed} of ${n} bench packets passed: is the policy enforced?`);
  return performance.now() - t0;
}

export async function batchesAccepted(ctl: Controller, enforcer: string): Promise<number> {
  if (ctl.child.exitCode !== null) throw new Error(`the controller exited (${ctl.child.exitCode})`);
  // A busy controller may answer slowly or drop a scrape: count it as no news.
  const text = await fetch(`${ctl.url}/metrics`, { signal: AbortSignal.timeout(30_000) }).then((r) => r.text()).catch(() => '');
  return Number(new RegExp(`^cordon_flow_batches_total\\{enforcer="${enforcer}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/** A process's user + system CPU time so far, ms (/proc/PID/stat, clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Resident memory of a process now, MB (NaN when /proc does not say). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/**
 * CPU time so far of this bench's PostgreSQL, ms: its postmaster (found by its port) with the backends it reaped
 * (cutime, cstime), and its live children. On the same 2 cores, its work per stream counts too.
 */
export function postgresCpuMs(port: number): number {
  const stat = (pid: string) => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const procs: { pid: string; ppid: string }[] = [];
  let master = '';
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue;
      procs.push({ pid: d, ppid: stat(d)[1] });
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').includes(`-p ${port}`)) master = d;
    } catch {
      /* gone meanwhile */
    }
  }
  let ticks = 0;
  for (const p of procs) {
    try {
      const f = stat(p.pid);
      if (p.pid === master) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      else if (p.ppid === master) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone meanwhile */
    }
  }
  return ticks * 10;
}
