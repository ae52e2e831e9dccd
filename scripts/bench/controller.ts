// SPDX-License-Identifier: Apache-2.0
/**
 * The controller at site scale: compile time (1,000 segments, 10,000 devices,
 * 10,000 policies) and a one-policy delta; REST apply throughput; the
 * controller process's memory with the whole site loaded. Prints one JSON line.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { startPostgres } from '../../test/support/postgres';
import { benchCompile, makeScaleDocs, scalePolicy, SITE_SCALE } from '../../apps/controller/src/compiler/bench-compile';
import { benchPlacement } from '../../apps/controller/src/placement/bench-placement';
import { rssMb } from './control-support';

const ROOT = path.resolve(__dirname, '..', '..');
const HTTP = `127.0.0.1:${17470 + (process.pid % 1000)}`;
const GRPC = `127.0.0.1:${18470 + (process.pid % 1000)}`;

async function apply(token: string, documents: unknown[], dryRun = false): Promise<void> {
  const r = await fetch(`http://${HTTP}/v1/apply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ documents, dryRun }),
  });
  if (!r.ok) throw new Error(`apply: ${r.status} ${(await r.text()).slice(0, 300)}`);
}

/** Waits for a controller's /healthz and admin token; returns the token. */
async function ready(dir: string, http: string): Promise<string> {
  const tokenFile = path.join(dir, 'admin.token');
  const until = Date.now() + 30000;
  while (!(fs.existsSync(tokenFile) && (await fetch(`http://${http}/healthz`).then((r) => r.ok).catch(() => false)))) {
    if (Date.now() > until) throw new Error('controller did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return fs.readFileSync(tokenFile, 'utf8').trim();
}

/** The same controller idle on a real PostgreSQL server (--database-url) instead of PGlite, for comparison. */
async function idleRssOnPostgres(): Promise<number> {
  const pg = await startPostgres();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-pg-'));
  const http = `127.0.0.1:${19470 + (process.pid % 1000)}`;
  const grpc = `127.0.0.1:${20470 + (process.pid % 1000)}`;
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'cordon.js'), 'controller', '--data-dir', dir, '--http', http, '--grpc', grpc, '--database-url', await pg.createDatabase('bench')], { stdio: 'ignore' });
  try {
    await ready(dir, http);
    await new Promise((r) => setTimeout(r, 1000));
    return rssMb(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  // CORDON_BENCH_SKIP_COMPILE=1: only the controller part (the compile bench is npm run bench's too).
  const compile = process.env.CORDON_BENCH_SKIP_COMPILE ? null : benchCompile();
  process.stderr.write(`compile: ${JSON.stringify(compile)}\n`);
  // One enforcer's view of the site (placement/): what `enforcers:` costs per generation and place.
  const placement = process.env.CORDON_BENCH_SKIP_COMPILE ? null : benchPlacement();
  process.stderr.write(`placement: ${JSON.stringify(placement)}\n`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-'));
  let child: ChildProcess | undefined;
  try {
    // CORDON_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the controller.
    const nodeArgs = (process.env.CORDON_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin', 'cordon.js'), 'controller', '--data-dir', dir, '--http', HTTP, '--grpc', GRPC], {
      stdio: ['ignore', 'ignore', process.env.CORDON_BENCH_CONTROLLER_LOG ? 'inherit' : 'pipe'],
    });
    const token = await ready(dir, HTTP);
    const idleMb = rssMb(child.pid!);

    // REST apply throughput: one small policy per request, on a small site.
    const small = makeScaleDocs({ segments: 20, devices: 50, policies: 20 });
    await apply(token, small);
    const n = 100;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await apply(token, [scalePolicy(i, { segments: 20, devices: 50, policies: 20 }, 20000 + i)]);
    const appliesPerSecond = n / ((performance.now() - t0) / 1000);

    // The whole site as a user applies it: one YAML file, one `cordon apply -f`, one transaction.
    const site = makeScaleDocs(SITE_SCALE);
    const siteFile = path.join(dir, 'site.yaml');
    fs.writeFileSync(siteFile, site.map((d) => YAML.stringify(d)).join('---\n'));
    const siteYamlMb = Math.round(fs.statSync(siteFile).size / 1e5) / 10;
    const t1 = performance.now();
    // Asynchronously: a blocked event loop would miss the server closing this process's idle keep-alive sockets.
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin', 'cordon.js'), 'apply', '-f', siteFile, '--server', `http://${HTTP}`, '--token', token], { maxBuffer: 64 << 20 });
    const siteLoadMs = performance.now() - t1;
    const t2 = performance.now();
    await apply(token, [scalePolicy(1, SITE_SCALE, 30001)]);
    const siteApplyOneMs = performance.now() - t2;
    // Then the steady state: the median of further one-policy applies and dry runs.
    const timeOne = async (i: number, dryRun: boolean) => {
      const t = performance.now();
      await apply(token, [scalePolicy(2 + i, SITE_SCALE, 30002 + i)], dryRun);
      return performance.now() - t;
    };
    const steady: number[] = [];
    const dry: number[] = [];
    for (let i = 0; i < 9; i++) steady.push(await timeOne(i, false));
    for (let i = 0; i < 9; i++) dry.push(await timeOne(20 + i, true));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const siteMb = rssMb(child.pid!);
    const postgresIdleMb = await idleRssOnPostgres();
    process.stdout.write(
      JSON.stringify({
        compile,
        placement,
        rest: { appliesPerSecond: Math.round(appliesPerSecond), siteDocuments: site.length, siteYamlMb, siteLoadOneApplyMs: Math.round(siteLoadMs), siteApplyOnePolicyMs: Math.round(siteApplyOneMs),
          siteApplyOnePolicyMedianMs: Math.round(median(steady)),
          siteDryRunOnePolicyMedianMs: Math.round(median(dry)),
        },
        controllerRssMb: { idle: idleMb, site: siteMb, idleOnPostgres: postgresIdleMb },
      }) + '\n',
    );
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
