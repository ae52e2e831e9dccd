// SPDX-License-Identifier: Apache-2.0
/**
 * Several controllers, one site (issue 14): BENCH_CONTROLLERS `cordon
 * controller` processes (default 3) on one real PostgreSQL, and
 * BENCH_FLEET_ENFORCERS simulated enforcers (default 3,000): gRPC clients with
 * their own key and certificate, each enrolled with its own token, watching
 * bundles over their own mTLS connection with the enforcer's channel options
 * (keepalive 4 s + 4 s), given every controller's address and starting on one
 * of them in turn; on a failed stream they move to the next after a random wait
 * under 250 ms and resume from the generation they hold, as the enforcer's
 * controller pool does. Spread over worker threads.
 *
 *  1. apply (REST, on the first controller) -> the generation at every
 *     enforcer: the time until the last of them, p50/p99 over
 *     BENCH_FLEET_APPLIES applies (goal p99 < 2 s), and every enforcer's own
 *     time for one apply;
 *  2. a controller SIGKILLed: how long until each of its enforcers is served
 *     again (its watch accepted by another controller), p50/p99/max (goal < 10 s);
 *  3. a controller frozen (SIGSTOP: a dead host whose sockets send nothing):
 *     the same, found by the keepalive;
 *  4. an apply after both, to every enforcer on the one survivor;
 *  5. (first, on a database of its own) the site of 21,000 documents on two
 *     controllers: a one-policy apply on a controller whose site the other
 *     changed, caught up incrementally, beside the same on a controller that
 *     loads the site afresh (its first change).
 *
 * Prints one JSON line; progress on stderr.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { controlClient, rpc } from '../../proto/cordon/v1/client';
import { CONTROL_GRPC, CONTROL_PROTO_PATH } from '../../proto/cordon/v1/control';
import { startPostgres } from '../../test/support/postgres';
import { makeScaleDocs, scalePolicy, SITE_SCALE } from '../../apps/controller/src/compiler/bench-compile';
import { apply, enrollmentToken, log, onCleanup, percentile, pool, run, sitePolicy, sleep, startController, type Controller } from './control-support';

const CONTROLLERS = Number(process.env.BENCH_CONTROLLERS ?? 3);
const SIM = Number(process.env.BENCH_FLEET_ENFORCERS ?? 3000);
const APPLIES = Number(process.env.BENCH_FLEET_APPLIES ?? 10);
const WORKERS = Math.max(1, Math.min(8, Number(process.env.BENCH_SIM_WORKERS ?? Math.min(4, os.cpus().length))));

/** The simulated enforcers' worker: plain JS (no loader needed in the thread). */
const WORKER_JS = `
const { parentPort, workerData } = require('node:worker_threads');
const grpc = require(workerData.grpcPath);
const protoLoader = require(workerData.loaderPath);
const def = protoLoader.loadSync(workerData.protoPath, { ...workerData.loader, longs: Number, enums: String });
const Control = grpc.loadPackageDefinition(def).cordon.v1.Control;
const now = () => performance.timeOrigin + performance.now();
let stopping = false;
const sims = workerData.creds.map((c, i) => {
  const creds = grpc.credentials.createSsl(Buffer.from(c.caPem), Buffer.from(c.keyPem), Buffer.from(c.certPem), { checkServerIdentity: () => undefined });
  const me = { name: c.name, creds, at: (workerData.offset + i) % workerData.addresses.length, client: null, call: null, gen: 0, history: [], served: [] };
  watch(me);
  return me;
});
function watch(me) {
  if (stopping) return;
  if (me.client) me.client.close();
  me.client = new Control(workerData.addresses[me.at], me.creds, workerData.clientOptions);
  const call = me.client.WatchBundles({ enforcer: me.name, lastGeneration: me.gen, lastHash: '' });
  me.call = call;
  let failed = false;
  const fail = () => {
    if (failed || stopping) return;
    failed = true;
    me.at = (me.at + 1) % workerData.addresses.length;
    setTimeout(() => watch(me), Math.random() * 250);
  };
  // the controller accepted the watch: served (again)
  call.on('metadata', () => { me.served.push([now(), me.at]); if (me.served.length > 16) me.served.shift(); check(); });
  call.on('data', (u) => {
    me.gen = Math.max(me.gen, Number(u.generation));
    me.history.push([me.gen, now()]);
    if (me.history.length > 64) me.history.shift();
    check();
  });
  call.on('error', fail);
  call.on('end', fail);
}
let target = 0;
let served = null;
let readySent = false;
function check() {
  if (!readySent && sims.every((c) => c.gen > 0)) { readySent = true; parentPort.postMessage({ type: 'ready' }); }
  if (target) {
    const at = [];
    for (const c of sims) {
      const h = c.history.find(([g]) => g >= target);
      if (!h) { at.length = 0; break; }
      at.push(h[1]);
    }
    if (at.length === sims.length) { parentPort.postMessage({ type: 'reached', generation: target, at }); target = 0; }
  }
  if (served) {
    const out = [];
    for (const c of served.of) {
      const s = c.served.find(([t, a]) => t > served.since && a !== served.dead);
      if (!s) return;
      out.push(s[0]);
    }
    parentPort.postMessage({ type: 'served', at: out });
    served = null;
  }
}
parentPort.on('message', (m) => {
  if (m.type === 'target') { target = m.generation; check(); }
  if (m.type === 'count') parentPort.postMessage({ type: 'count', on: sims.map((c) => c.at) });
  // the enforcers on controller m.dead now: when is each served by another?
  if (m.type === 'served') { served = { since: m.since, dead: m.dead, of: sims.filter((c) => c.at === m.dead) }; check(); }
  if (m.type === 'stop') { stopping = true; for (const c of sims) { c.call.cancel(); c.client.close(); } parentPort.close(); }
});
`;

class Fleet {
  readonly workers: Worker[] = [];
  private readonly waiting = new Map<string, ((m: any) => void)[]>();
  errors = 0;

  constructor(addresses: string[], creds: { name: string; keyPem: string; certPem: string; caPem: string }[]) {
    const per = Math.ceil(creds.length / WORKERS);
    for (let w = 0; w < WORKERS; w++) {
      const worker = new Worker(WORKER_JS, {
        eval: true,
        workerData: {
          grpcPath: require.resolve('@grpc/grpc-js'),
          loaderPath: require.resolve('@grpc/proto-loader'),
          protoPath: CONTROL_PROTO_PATH,
          loader: { ...CONTROL_GRPC.loader, longs: undefined, enums: undefined },
          clientOptions: CONTROL_GRPC.client,
          addresses,
          offset: w * per,
          creds: creds.slice(w * per, (w + 1) * per),
        },
      });
      this.workers.push(worker);
      onCleanup(() => worker.terminate().then(() => undefined));
      worker.on('message', (m) => {
        const q = this.waiting.get(m.type);
        q?.shift()?.(m);
      });
      worker.on('error', (e) => log(`worker: ${e.message}`));
    }
  }

  /** One message of `type` from every worker, after sending `msg` to each. */
  async all<T>(type: string, msg: object | null, timeoutMs: number): Promise<T[]> {
    const got = this.workers.map(() => new Promise<T>((resolve) => this.waiting.set(type, [...(this.waiting.get(type) ?? []), resolve])));
    if (msg) for (const w of this.workers) w.postMessage(msg);
    return Promise.race([Promise.all(got), sleep(timeoutMs).then(() => Promise.reject(new Error(`${type}: not every worker answered within ${timeoutMs} ms`)))]);
  }

  /** How many enforcers each controller serves now. */
  async spread(): Promise<number[]> {
    const on = (await this.all<{ on: number[] }>('count', { type: 'count' }, 10_000)).flatMap((m) => m.on);
    return Array.from({ length: CONTROLLERS }, (_, i) => on.filter((a) => a === i).length);
  }

  /** Applies on `ctl`; the ms from its 200 until each enforcer held the generation. */
  async applyAndWait(ctl: Controller, port: number): Promise<number[]> {
    const reached = this.all<{ at: number[] }>('reached', null, 60_000);
    const { generation, ackAt } = await apply(ctl, sitePolicy(port, 20));
    const ackEpoch = performance.timeOrigin + ackAt;
    for (const w of this.workers) w.postMessage({ type: 'target', generation });
    return (await reached).flatMap((m) => m.at).map((t) => Math.max(0, t - ackEpoch));
  }

  /**
   * Stops controller `dead` with `signal` at once; the ms until each of its enforcers was served by another, and
   * the CPU the surviving controllers and this process (the simulated enforcers' TLS and gRPC) spent meanwhile:
   * on 2 cores shared by everything, the wall time is bounded by both, so the controllers' share says what a
   * controller would need with its enforcers on hosts of their own.
   */
  async takeOver(ctls: Controller[], dead: number, signal: NodeJS.Signals, alive: number[]): Promise<{ ms: number[]; controllerCpuMs: number; enforcersCpuMs: number }> {
    const since = performance.timeOrigin + performance.now();
    const cpu0 = alive.map((i) => cpuMs(ctls[i].child.pid!));
    const own0 = process.cpuUsage();
    ctls[dead].child.kill(signal);
    const served = await this.all<{ at: number[] }>('served', { type: 'served', since, dead }, 60_000);
    const own = process.cpuUsage(own0);
    const controllerCpuMs = Math.round(alive.reduce((n, i, k) => n + cpuMs(ctls[i].child.pid!) - cpu0[k], 0));
    return { ms: served.flatMap((m) => m.at).map((t) => t - since), controllerCpuMs, enforcersCpuMs: Math.round((own.user + own.system) / 1000) };
  }

  async stop(): Promise<void> {
    for (const w of this.workers) w.postMessage({ type: 'stop' });
    await sleep(200);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Ms of a one-policy apply on `ctl` (the REST call), and how the controller read the site for it. */
async function timedApply(ctl: Controller, documents: unknown[]): Promise<number> {
  const t = performance.now();
  await apply(ctl, documents);
  return Math.round(performance.now() - t);
}

/** 5: the site at scale on two controllers, applies alternating between them. */
async function catchUp(databaseUrl: string, env: NodeJS.ProcessEnv) {
  const a = await startController(['--database-url', databaseUrl, '--id', 'catchup-a'], env);
  const b = await startController(['--database-url', databaseUrl, '--id', 'catchup-b'], env, a.admin);
  const r = await a.api('POST', '/v1/apply', { documents: makeScaleDocs(SITE_SCALE), dryRun: false });
  if (r.status !== 200) throw new Error(`site apply: ${r.status}`);
  // b's first change: no site held, compiled afresh from the store
  const fullMs = await timedApply(b, [scalePolicy(1, SITE_SCALE, 31001)]);
  const incremental: number[] = [];
  for (let i = 0; i < 6; i++) incremental.push(await timedApply(i % 2 ? b : a, [scalePolicy(2 + i, SITE_SCALE, 31002 + i)]));
  // the same apply on a controller that made the last change itself: what an apply costs with no catching up
  const same: number[] = [];
  for (let i = 0; i < 5; i++) same.push(await timedApply(a, [scalePolicy(10 + i, SITE_SCALE, 31010 + i)]));
  const loads = async (c: Controller, how: string) => Number(new RegExp(`^cordon_site_loads_total\\{how="${how}"\\} (\\d+)`, 'm').exec(await (await fetch(`${c.url}/metrics`)).text())?.[1] ?? 0);
  const siteLoads = { incremental: (await loads(a, 'incremental')) + (await loads(b, 'incremental')), full: (await loads(a, 'full')) + (await loads(b, 'full')) };
  await a.stop();
  await b.stop();
  return { documents: makeScaleDocs(SITE_SCALE).length, firstApplyLoadingTheSiteMs: fullMs, applyAfterTheOthersChangeMs: { median: percentile(incremental, 50), all: incremental }, applyAfterItsOwnChangeMs: { median: percentile(same.slice(1), 50), all: same }, siteLoads };
}

/** A process's user + system CPU time so far, ms (/proc/PID/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const stats = (xs: number[]) => ({ n: xs.length, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99), maxMs: percentile(xs, 100) });

run(async () => {
  if (process.getuid?.() !== 0) throw new Error('controllers bench: run as root (PostgreSQL runs as its own user)');
  const pg = await startPostgres();
  onCleanup(() => pg.stop());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-kek-'));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'kek'), randomBytes(32), { mode: 0o600 });
  // one site: the CAs sealed under the KEK in the shared database, so every controller serves every enforcer
  const env = { CORDON_KEK_FILE: path.join(dir, 'kek'), CORDON_EST: 'off' };
  const catchup = await catchUp(await pg.createDatabase('catchup'), env);
  log(`controllers: site of ${catchup.documents} documents: an apply loading it afresh ${catchup.firstApplyLoadingTheSiteMs} ms, after the other controller's change ${catchup.applyAfterTheOthersChangeMs.median} ms, after its own ${catchup.applyAfterItsOwnChangeMs.median} ms (medians; loads ${JSON.stringify(catchup.siteLoads)})`);
  const ctls: Controller[] = [];
  for (let i = 0; i < CONTROLLERS; i++) ctls.push(await startController(['--database-url', pg.url, '--id', `bench-ctl-${i}`], env, ctls[0]?.admin));
  let port = 40000;
  await apply(ctls[0], sitePolicy(port++, 20));

  const t0 = Date.now();
  const anon = controlClient(ctls[0].grpc, { caPem: null });
  const creds = await pool(SIM, 32, async (i) => {
    const name = `fleet-${i}`;
    const [{ keyPem, csrPem }, token] = await Promise.all([keyAndCsr(name), enrollmentToken(ctls[i % CONTROLLERS])]);
    const r = await rpc.enroll(anon, { token, csrPem, name }, 60_000);
    return { name, keyPem, certPem: r.certificatePem, caPem: r.caPem };
  });
  anon.close();
  const enrollMs = Date.now() - t0;
  log(`controllers: ${SIM} enforcers enrolled in ${enrollMs} ms`);

  const t1 = Date.now();
  const fleet = new Fleet(ctls.map((c) => c.grpc), creds);
  await fleet.all('ready', null, 180_000);
  const connectMs = Date.now() - t1;
  const spread = await fleet.spread();
  log(`controllers: ${SIM} watches open with their snapshot in ${connectMs} ms, served by ${spread.join(' / ')}`);

  const atAll: number[] = [];
  let each: number[] = [];
  for (let i = 0; i < APPLIES; i++) {
    const ms = await fleet.applyAndWait(ctls[0], port++);
    atAll.push(Math.max(...ms));
    if (i === APPLIES - 1) each = ms;
    log(`controllers: generation at all ${SIM} after ${Math.max(...ms).toFixed(0)} ms (p50 of one enforcer ${percentile(ms, 50)} ms)`);
    await sleep(300);
  }

  const k = await fleet.takeOver(ctls, 1, 'SIGKILL', [0, 2].filter((i) => i < CONTROLLERS));
  const killed = k.ms;
  log(`controllers: controller 1 SIGKILLed: its ${killed.length} enforcers served again, p99 ${percentile(killed, 99)} ms, max ${percentile(killed, 100)} ms; CPU meanwhile: controllers ${k.controllerCpuMs} ms, simulated enforcers ${k.enforcersCpuMs} ms`);
  const afterKill = await fleet.spread();
  const f = CONTROLLERS > 2 ? await fleet.takeOver(ctls, 2, 'SIGSTOP', [0]) : null;
  const frozen = f?.ms ?? [];
  if (f) log(`controllers: controller 2 frozen (SIGSTOP): its ${frozen.length} enforcers served again, p99 ${percentile(frozen, 99)} ms, max ${percentile(frozen, 100)} ms; CPU meanwhile: controller ${f.controllerCpuMs} ms, simulated enforcers ${f.enforcersCpuMs} ms`);
  const afterFreeze = await fleet.spread();
  const survivor = await fleet.applyAndWait(ctls[0], port++);
  log(`controllers: an apply on the survivor at all ${SIM} after ${Math.max(...survivor).toFixed(0)} ms`);
  await fleet.stop();
  if (frozen.length) ctls[2].child.kill('SIGKILL');
  const p99 = percentile(atAll, 99);
  const served = Math.max(percentile(killed, 100), frozen.length ? percentile(frozen, 100) : 0);
  return {
    bench: 'controllers',
    controllers: CONTROLLERS,
    enforcers: SIM,
    workers: WORKERS,
    enrollMs,
    connectMs,
    servedBy: spread,
    applyToAll: { applies: APPLIES, ...stats(atAll), targetP99Ms: 2000 },
    applyPerEnforcer: stats(each),
    sigkill: { ...stats(killed), servedByAfter: afterKill, controllerCpuMs: k.controllerCpuMs, controllerCpuMsPerEnforcer: +(k.controllerCpuMs / Math.max(1, killed.length)).toFixed(2), simulatedEnforcersCpuMs: k.enforcersCpuMs },
    sigstop: f ? { ...stats(frozen), servedByAfter: afterFreeze, controllerCpuMs: f.controllerCpuMs, controllerCpuMsPerEnforcer: +(f.controllerCpuMs / Math.max(1, frozen.length)).toFixed(2), simulatedEnforcersCpuMs: f.enforcersCpuMs } : null,
    applyOnSurvivorToAllMs: Math.round(Math.max(...survivor)),
    siteCatchUp: catchup,
    targetServedAgainMs: 10_000,
    ok: p99 < 2000 && served < 10_000,
  };
});
