// SPDX-License-Identifier: Apache-2.0
/**
 * Several controllers, one site (issue 14): BENCH_CONTROLLERS `cordon
 * controller` processes (default 3) on one real PostgreSQL, and
 * BENCH_FLEET_ENFORCERS simulated enforcers (default 3,000): gRPC clients with
 * their own key and certificate, each enrolled with its own token, watching
 * bundles over their own mTLS connection with the enforcer's channel options
 * (proto/cordon/v1/control.ts KEEPALIVE), given every controller's address in
 * an order of their own (`--controller` given in that order; the orders spread
 * evenly, so that a failed controller's enforcers spread over the survivors:
 * with one order for all they would all move to the same next one), starting
 * on the first; on a failed stream they move to the next after a random wait
 * under 250 ms and resume from the generation they hold, as the enforcer's
 * controller pool does, over the standby connection each holds to the next
 * controller of its order when it is up (apps/enforcer/src/standby.ts;
 * BENCH_STANDBY=0: none, every move a TLS handshake). Spread over worker
 * threads.
 *
 *  1. apply (REST, on the first controller) -> the generation at every
 *     enforcer: the time until the last of them, p50/p99 over
 *     BENCH_FLEET_APPLIES applies (goal p99 < 2 s), and every enforcer's own
 *     time for one apply;
 *  0. the controllers' CPU with every watch open and nothing to send: the
 *     keepalive pings' cost;
 *  2. a controller SIGKILLed: how long until each of its enforcers is served
 *     again (its watch accepted by another controller), p50/p99/max (goal < 10 s),
 *     and the surviving controllers' CPU per enforcer taken over; then it is
 *     started again on the same database and address, and the enforcers it
 *     had are sent back to it (each to the first of its order: the fleet as
 *     it started);
 *  3. another controller frozen (SIGSTOP: a dead host whose sockets send
 *     nothing), a single failure with two survivors: the same, found by the
 *     keepalive (goal < 10 s);
 *  3b. (BENCH_SECOND_FAILURE=0 skips it) the frozen one killed, and one of the
 *     two left frozen: a second failure in a row, on the one survivor;
 *  4. an apply after all that, to every enforcer on the one survivor;
 *  5. (first, on a database of its own) the site of 21,000 documents on two
 *     controllers: a one-policy apply on a controller whose site the other
 *     changed, caught up incrementally, beside the same on a controller that
 *     loads the site afresh (its first change); BENCH_SITE_CATCHUP=0 skips it.
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
import { CONTROL_GRPC, CONTROL_PROTO_PATH, KEEPALIVE, SERVER_KEEPALIVE } from '../../proto/cordon/v1/control';
import { startPostgres } from '../../test/support/postgres';
import { CONNECT_TIMEOUT_MS } from '../../apps/enforcer/src/bundle-stream';
import { STANDBY_AFTER_MOVE_MS, STANDBY_AT_START_MS } from '../../apps/enforcer/src/standby';
import { makeScaleDocs, scalePolicy, SITE_SCALE } from '../../apps/controller/src/compiler/bench-compile';
import { apply, cpuMs, enrollmentToken, rssMb, log, onCleanup, percentile, pool, postgresCpuMs, run, sitePolicy, sleep, startController, type Controller } from './control-support';

const CONTROLLERS = Number(process.env.BENCH_CONTROLLERS ?? 3);
const SIM = Number(process.env.BENCH_FLEET_ENFORCERS ?? 3000);
const APPLIES = Number(process.env.BENCH_FLEET_APPLIES ?? 10);
const SITE_CATCHUP = process.env.BENCH_SITE_CATCHUP !== '0';
const SECOND_FAILURE = process.env.BENCH_SECOND_FAILURE !== '0';
// 4 threads even on 2 cores: with 2, each thread's 1,500 simulated enforcers lagged its event loop past the 4 s
// keepalive timeout during a take-over, and they gave up live controllers (2,404 streams given up for 1,029
// enforcers of a killed one; 0 extra with 4). A real enforcer is one per host.
// BENCH_STANDBY=0: no standby connection (every move a TLS handshake), to compare.
const STANDBY = process.env.BENCH_STANDBY !== '0';
const WORKERS = Math.max(1, Math.min(8, Number(process.env.BENCH_SIM_WORKERS ?? 4)));

/** The simulated enforcers' worker: plain JS (no loader needed in the thread). */
const WORKER_JS = `
const { parentPort, workerData } = require('node:worker_threads');
const grpc = require(workerData.grpcPath);
const protoLoader = require(workerData.loaderPath);
const def = protoLoader.loadSync(workerData.protoPath, { ...workerData.loader, longs: Number, enums: String });
const Control = grpc.loadPackageDefinition(def).cordon.v1.Control;
const now = () => performance.timeOrigin + performance.now();
let stopping = false;
const READY = grpc.connectivityState.READY, CONNECTING = grpc.connectivityState.CONNECTING;
const newClient = (me, at) =>
  // A subchannel pool of its own, as a real enforcer (one process per host, one channel) has: in grpc-js's
  // process-wide pool, each new channel compared its options with every other simulated enforcer's subchannel
  // (O(n): 10% of the simulator's CPU during a take-over, a cost no real enforcer pays).
  new Control(workerData.addresses[at], me.creds, { ...workerData.clientOptions, 'grpc.use_local_subchannel_pool': 1 });
const sims = workerData.creds.map((c, i) => {
  const creds = grpc.credentials.createSsl(Buffer.from(c.caPem), Buffer.from(c.keyPem), Buffer.from(c.certPem), { checkServerIdentity: () => undefined });
  // Its own order of the controllers: every start, forwards or backwards (the 6 orders of 3 alike).
  const n = workerData.addresses.length, g = workerData.offset + i, dir = Math.floor(g / n) % 2 ? n - 1 : 1;
  const order = Array.from({ length: n }, (_, k) => (g + k * dir) % n);
  const me = { name: c.name, creds, order, k: 0, at: order[0], moves: 0, viaStandby: 0, client: null, standby: null, standbyAt: null, standbyTimer: null, call: null, accepted: false, gen: 0, history: [], served: [] };
  watch(me, false);
  return me;
});
// As the enforcer's standby (controller-pool.ts): a connection to the next controller of its order, made after
// delayMs and kept up, so that a move opens a stream on it instead of a TLS handshake.
function keepStandby(me, delayMs) {
  const at = me.order[(me.k + 1) % me.order.length];
  // one to it already, or waiting to be made: kept (as Standby.keep)
  if (!workerData.standby || me.order.length < 2 || me.standbyAt === at) return;
  clearTimeout(me.standbyTimer);
  me.standby?.client.close();
  me.standby = null;
  me.standbyAt = at;
  me.standbyTimer = setTimeout(() => {
    if (stopping) return;
    const s = { at, client: newClient(me, at) };
    me.standby = s;
    const ch = s.client.getChannel();
    const kick = () => {
      if (me.standby !== s || stopping) return;
      ch.watchConnectivityState(ch.getConnectivityState(true), Date.now() + 3_600_000, kick);
    };
    kick();
  }, delayMs);
}
function watch(me, moved) {
  if (stopping) return;
  if (me.client) me.client.close();
  const s = me.standby;
  if (me.standbyAt === me.at) {
    clearTimeout(me.standbyTimer);
    me.standby = null;
    me.standbyAt = null;
  }
  if (s && s.at === me.at && [READY, CONNECTING].includes(s.client.getChannel().getConnectivityState(false))) {
    me.client = s.client;
    me.viaStandby++;
  } else {
    if (s && s.at === me.at) s.client.close();
    me.client = newClient(me, me.at);
  }
  // after a move, later and spread: the connections a take-over's survivors accept, not during it
  if (moved) keepStandby(me, workerData.standbyAfterMoveMs[0] + Math.random() * workerData.standbyAfterMoveMs[1]);
  const call = me.client.WatchBundles({ enforcer: me.name, lastGeneration: me.gen, lastHash: '' });
  me.call = call;
  me.accepted = false;
  let failed = false;
  const fail = () => {
    if (failed || stopping || me.call !== call) return; // a call given up for a new one (rebalance) moves nothing
    failed = true;
    me.moves++;
    me.k = (me.k + 1) % me.order.length;
    me.at = me.order[me.k];
    setTimeout(() => watch(me, true), Math.random() * 250);
  };
  // the controller accepted the watch: served (again)
  call.on('metadata', () => { keepStandby(me, Math.random() * workerData.standbyAtStartMs); me.accepted = true; me.served.push([now(), me.at]); if (me.served.length > 16) me.served.shift(); check(); });
  call.on('data', (u) => {
    me.gen = Math.max(me.gen, Number(u.generation));
    me.history.push([me.gen, now()]);
    if (me.history.length > 64) me.history.shift();
    check();
  });
  call.on('error', fail);
  call.on('end', fail);
  // as the enforcer's policy stream (bundle-stream.ts CONNECT_TIMEOUT_MS): no connection in time, the controller is lost
  const client = me.client;
  setTimeout(() => {
    if (me.call !== call || me.accepted || client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY) return;
    fail();
    call.cancel();
  }, workerData.connectTimeoutMs).unref();
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
  if (m.type === 'count') parentPort.postMessage({ type: 'count', on: sims.map((c) => c.at), moves: sims.reduce((n, c) => n + c.moves, 0), first: sims.filter((c) => c.at === c.order[0] && c.accepted).length, pending: sims.filter((c) => !c.accepted).length, standby: sims.filter((c) => c.standby?.client.getChannel().getConnectivityState(false) === READY).length, viaStandby: sims.reduce((n, c) => n + c.viaStandby, 0) });
  // the enforcers on controller m.dead now: when is each served by another?
  if (m.type === 'served') { served = { since: m.since, dead: m.dead, of: sims.filter((c) => c.at === m.dead) }; check(); }
  // back to its first controller (after a restart): the fleet as it started
  if (m.type === 'rebalance') for (const c of sims) if (c.at !== c.order[0]) { const old = c.call; c.k = 0; c.at = c.order[0]; watch(c, false); old.cancel(); }
  if (m.type === 'stop') { stopping = true; for (const c of sims) { c.call.cancel(); c.client.close(); c.standby?.client.close(); clearTimeout(c.standbyTimer); } parentPort.close(); }
});
`;

class Fleet {
  readonly workers: Worker[] = [];
  private readonly waiting = new Map<string, ((m: any) => void)[]>();
  errors = 0;

  constructor(addresses: string[], creds: { name: string; keyPem: string; certPem: string; caPem: string }[], private readonly pgPort: number) {
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
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
          standby: STANDBY,
          standbyAfterMoveMs: [STANDBY_AFTER_MOVE_MS.min, STANDBY_AFTER_MOVE_MS.spread],
          standbyAtStartMs: STANDBY_AT_START_MS,
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

  /**
   * Every enforcer back on the first controller of its order (after a restart), as the fleet started: until 98%
   * of them are served there (a few may have moved on again on a busy controller) and none is still connecting
   * anywhere (one connecting to a controller that then freezes would wait on a handshake, not on what the next
   * phase measures), at most 60 s; the spread then.
   */
  async rebalance(): Promise<number[]> {
    for (const w of this.workers) w.postMessage({ type: 'rebalance' });
    const t = Date.now();
    const count = async () => (await this.all<{ first: number; pending: number }>('count', { type: 'count' }, 60_000)).reduce((n, m) => ({ first: n.first + m.first, pending: n.pending + m.pending }), { first: 0, pending: 0 });
    for (let c = await count(); (c.first < 0.98 * SIM || c.pending > 0) && Date.now() - t < 60_000; c = await count()) await sleep(500);
    await this.standbys();
    return this.spread();
  }

  /** With standbys: until 98% of the enforcers hold one, connected, at most 60 s; how many do. */
  async standbys(): Promise<number> {
    const count = async () => (await this.all<{ standby: number }>('count', { type: 'count' }, 60_000)).reduce((n, m) => n + m.standby, 0);
    const t = Date.now();
    let n = await count();
    while (STANDBY && n < 0.98 * SIM && Date.now() - t < 60_000) {
      await sleep(500);
      n = await count();
    }
    return n;
  }

  /** Streams given up so far (every failed attempt moves to the next controller), all enforcers. */
  async moves(): Promise<number> {
    return (await this.all<{ moves: number }>('count', { type: 'count' }, 60_000)).reduce((n, m) => n + m.moves, 0);
  }

  /** Moves made onto a standby connection so far. */
  async viaStandby(): Promise<number> {
    return (await this.all<{ viaStandby: number }>('count', { type: 'count' }, 60_000)).reduce((n, m) => n + m.viaStandby, 0);
  }

  /** How many enforcers each controller serves now. */
  async spread(): Promise<number[]> {
    const on = (await this.all<{ on: number[] }>('count', { type: 'count' }, 60_000)).flatMap((m) => m.on);
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
  async takeOver(ctls: Controller[], dead: number, signal: NodeJS.Signals, alive: number[]): Promise<{ ms: number[]; controllerCpuMs: number; enforcersCpuMs: number; postgresCpuMs: number; moves: number; viaStandby: number }> {
    const moves0 = await this.moves();
    const standby0 = await this.viaStandby();
    const since = performance.timeOrigin + performance.now();
    const cpu0 = alive.map((i) => cpuMs(ctls[i].child.pid!));
    const pg0 = postgresCpuMs(this.pgPort);
    const own0 = process.cpuUsage();
    ctls[dead].child.kill(signal);
    const served = await this.all<{ at: number[] }>('served', { type: 'served', since, dead }, 120_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; served by ${(await this.spread().catch(() => []))?.join(' / ')}`);
    });
    const own = process.cpuUsage(own0);
    const pgMs = postgresCpuMs(this.pgPort) - pg0;
    const controllerCpuMs = Math.round(alive.reduce((n, i, k) => n + cpuMs(ctls[i].child.pid!) - cpu0[k], 0));
    // Every stream given up meanwhile: the dead one's, any attempt that failed after (on a dead controller), and
    // any enforcer that gave up a live but busy controller (a keepalive answer late: what must not happen).
    const moves = (await this.moves()) - moves0;
    const viaStandby = (await this.viaStandby()) - standby0;
    return { ms: served.flatMap((m) => m.at).map((t) => t - since), controllerCpuMs, enforcersCpuMs: Math.round((own.user + own.system) / 1000), postgresCpuMs: pgMs, moves, viaStandby };
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
  const catchup = SITE_CATCHUP ? await catchUp(await pg.createDatabase('catchup'), env) : null;
  if (catchup) log(`controllers: site of ${catchup.documents} documents: an apply loading it afresh ${catchup.firstApplyLoadingTheSiteMs} ms, after the other controller's change ${catchup.applyAfterTheOthersChangeMs.median} ms, after its own ${catchup.applyAfterItsOwnChangeMs.median} ms (medians; loads ${JSON.stringify(catchup.siteLoads)})`);
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
  const fleet = new Fleet(ctls.map((c) => c.grpc), creds, pg.port);
  await fleet.all('ready', null, 600_000); // 3,000 connecting at once on 2 loaded cores took over 180 s (main's code too)
  const connectMs = Date.now() - t1;
  const spread = await fleet.spread();
  const connectMoves = await fleet.moves();
  log(`controllers: ${SIM} watches open with their snapshot in ${connectMs} ms, served by ${spread.join(' / ')}; ${connectMoves} streams given up meanwhile`);
  // the fleet as it runs: every standby made (within STANDBY_AT_START_MS of its watch accepted)
  const standbys = await fleet.standbys();
  if (STANDBY) log(`controllers: ${standbys} enforcers hold a standby connection to the next controller of their order`);

  const atAll: number[] = [];
  let each: number[] = [];
  for (let i = 0; i < APPLIES; i++) {
    const ms = await fleet.applyAndWait(ctls[0], port++);
    atAll.push(Math.max(...ms));
    if (i === APPLIES - 1) each = ms;
    log(`controllers: generation at all ${SIM} after ${Math.max(...ms).toFixed(0)} ms (p50 of one enforcer ${percentile(ms, 50)} ms)`);
    await sleep(300);
  }

  // 0: keepalive pings (and nothing else) for IDLE_MS
  const IDLE_MS = 10_000;
  const idle0 = ctls.map((c) => cpuMs(c.child.pid!));
  await sleep(IDLE_MS);
  const idleCpuMsPerS = +((ctls.reduce((n, c, i) => n + cpuMs(c.child.pid!) - idle0[i], 0) / IDLE_MS) * 1000).toFixed(1);
  // the enforcers ping their current controller (a call open); the controllers ping every connection, the standbys too
  const pingsPerS = Math.round(SIM * (1000 / KEEPALIVE.timeMs + (STANDBY ? 2 : 1) * (1000 / SERVER_KEEPALIVE.timeMs)));
  const idleRssMb = ctls.map((c) => rssMb(c.child.pid!));
  log(`controllers: idle, every watch open: the ${CONTROLLERS} controllers spend ${idleCpuMsPerS} ms of CPU a second (keepalive ${KEEPALIVE.timeMs / 1000} s + ${KEEPALIVE.timeoutMs / 1000} s, the controllers' ${SERVER_KEEPALIVE.timeMs / 1000} s + ${SERVER_KEEPALIVE.timeoutMs / 1000} s: about ${pingsPerS} pings a second, each answered); their RSS ${idleRssMb.join(' / ')} MB`);

  const alive = (...dead: number[]) => ctls.map((_, i) => i).filter((i) => !dead.includes(i));
  const perEnforcer = (t: { controllerCpuMs: number }, n: number) => +(t.controllerCpuMs / Math.max(1, n)).toFixed(2);
  const k = await fleet.takeOver(ctls, 1, 'SIGKILL', alive(1));
  const killed = k.ms;
  log(`controllers: controller 1 SIGKILLed: its ${killed.length} enforcers served again, p50 ${percentile(killed, 50)} ms, p99 ${percentile(killed, 99)} ms, max ${percentile(killed, 100)} ms; CPU meanwhile: controllers ${k.controllerCpuMs} ms (${perEnforcer(k, killed.length)} ms per enforcer taken over), simulated enforcers ${k.enforcersCpuMs} ms, PostgreSQL ${k.postgresCpuMs} ms`);
  const afterKill = await fleet.spread();
  log(`controllers: served by ${afterKill.join(' / ')}; ${k.moves} streams given up meanwhile (failed attempts included), ${k.viaStandby} moves onto a standby connection`);
  let f: Awaited<ReturnType<Fleet['takeOver']>> | null = null;
  let second: Awaited<ReturnType<Fleet['takeOver']>> | null = null;
  let afterFreeze: number[] = [];
  let afterSecond: number[] = [];
  if (CONTROLLERS > 2) {
    // The killed controller restarted on the same database and address, and its enforcers back on it: each
    // failure below starts from the fleet as it started (a third on each), a single failure of one of three.
    ctls[1] = await startController(['--database-url', pg.url, '--id', 'bench-ctl-1', '--grpc', ctls[1].grpc], env, ctls[0].admin);
    const rebalanced = await fleet.rebalance();
    log(`controllers: controller 1 restarted, its enforcers back: served by ${rebalanced.join(' / ')}`);
    await sleep(2000);
    f = await fleet.takeOver(ctls, 2, 'SIGSTOP', alive(2));
    log(`controllers: controller 2 frozen (SIGSTOP), controllers 0 and 1 up: its ${f.ms.length} enforcers served again, p50 ${percentile(f.ms, 50)} ms, p99 ${percentile(f.ms, 99)} ms, max ${percentile(f.ms, 100)} ms; CPU meanwhile: controllers ${f.controllerCpuMs} ms (${perEnforcer(f, f.ms.length)} ms per enforcer taken over), simulated enforcers ${f.enforcersCpuMs} ms, PostgreSQL ${f.postgresCpuMs} ms`);
    afterFreeze = await fleet.spread();
    log(`controllers: served by ${afterFreeze.join(' / ')}; ${f.moves} streams given up meanwhile (failed attempts included), ${f.viaStandby} moves onto a standby connection`);
    if (SECOND_FAILURE) {
      // A second failure in a row: the frozen one dies for good, then controller 1 freezes; 0 is the one left.
      ctls[2].child.kill('SIGKILL');
      await sleep(1000);
      second = await fleet.takeOver(ctls, 1, 'SIGSTOP', [0]);
      log(`controllers: then controller 1 frozen too, controller 0 the one left: its ${second.ms.length} enforcers served again, p50 ${percentile(second.ms, 50)} ms, p99 ${percentile(second.ms, 99)} ms, max ${percentile(second.ms, 100)} ms; CPU meanwhile: controller ${second.controllerCpuMs} ms (${perEnforcer(second, second.ms.length)} ms per enforcer), simulated enforcers ${second.enforcersCpuMs} ms, PostgreSQL ${second.postgresCpuMs} ms`);
      afterSecond = await fleet.spread();
      log(`controllers: served by ${afterSecond.join(' / ')}; ${second.moves} streams given up meanwhile (failed attempts included), ${second.viaStandby} moves onto a standby connection`);
    }
  }
  const frozen = f?.ms ?? [];
  const survivor = await fleet.applyAndWait(ctls[0], port++);
  log(`controllers: an apply on controller 0 at all ${SIM} after ${Math.max(...survivor).toFixed(0)} ms`);
  await fleet.stop();
  // the frozen ones (still there, stopped)
  if (f) ctls[2].child.kill('SIGKILL');
  if (second) ctls[1].child.kill('SIGKILL');
  const p99 = percentile(atAll, 99);
  const served = Math.max(percentile(killed, 100), frozen.length ? percentile(frozen, 100) : 0);
  const phase = (t: Awaited<ReturnType<Fleet['takeOver']>>, after: number[]) => ({ ...stats(t.ms), servedByAfter: after, moves: t.moves, viaStandby: t.viaStandby, controllerCpuMs: t.controllerCpuMs, controllerCpuMsPerEnforcer: perEnforcer(t, t.ms.length), simulatedEnforcersCpuMs: t.enforcersCpuMs, postgresCpuMs: t.postgresCpuMs });
  return {
    bench: 'controllers',
    controllers: CONTROLLERS,
    enforcers: SIM,
    workers: WORKERS,
    standby: STANDBY,
    enrollMs,
    connectMs,
    connectMoves,
    servedBy: spread,
    applyToAll: { applies: APPLIES, ...stats(atAll), targetP99Ms: 2000 },
    applyPerEnforcer: stats(each),
    keepalive: { ...KEEPALIVE, server: SERVER_KEEPALIVE, pingsPerS, idleControllersCpuMsPerS: idleCpuMsPerS },
    idleControllersRssMb: idleRssMb,
    sigkill: phase(k, afterKill),
    // a single failure: two controllers left (the killed one restarted)
    sigstop: f ? phase(f, afterFreeze) : null,
    // then a second in a row: one left
    sigstopSecondFailure: second ? phase(second, afterSecond) : null,
    applyOnSurvivorToAllMs: Math.round(Math.max(...survivor)),
    siteCatchUp: catchup,
    targetServedAgainMs: 10_000,
    ok: p99 < 2000 && served < 10_000,
  };
});
