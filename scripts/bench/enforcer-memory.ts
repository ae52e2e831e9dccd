// SPDX-License-Identifier: Apache-2.0
/**
 * Enforcer resident memory: `cordon enforcer` as its own process (the built
 * CLI, dist/, as users run it; built here first), connected to a `cordon
 * controller`, its interface in a namespace.
 *  - idle: after its first generation and a few flow polls with no traffic;
 *  - with BENCH_FLOWS tracked flows (default 100,000), created in its pinned
 *    flow table by running the real program on generated SYNs
 *    (BPF_PROG_TEST_RUN through a second handle on the same pins), after it
 *    has exported them all to the controller.
 * Target (issue 5): idle < 100 MB. Prints one JSON line; progress on stderr.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { FLOW_BATCH_RECORDS } from '../../apps/enforcer/src/flow-collector';
import { apply, batchesAccepted, enrollmentToken, FLOW_SITE, gatewayNamespace, log, onCleanup, requireRoot, ROOT, run, sleep, startController, touchFlows } from './control-support';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 100_000);
const PIN_NAME = 'bench-enforcer-memory';

const rssMb = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 102.4) / 10;

run(async () => {
  requireRoot('enforcer-memory');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });

  const ctl = await startController();
  const { netns, ifname } = gatewayNamespace('cbench-mem');
  Datapath.removePins(PIN_NAME);
  onCleanup(() => Datapath.removePins(PIN_NAME));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-mem-'));
  onCleanup(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const { generation } = await apply(ctl, FLOW_SITE);

  const metricsPort = 17000 + Math.floor(Math.random() * 1000);
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'cordon.js'), 'enforcer', '--controller', ctl.grpc, '--token', await enrollmentToken(ctl), '--interface', ifname, '--netns', netns,
      '--state-dir', stateDir, '--metrics', `127.0.0.1:${metricsPort}`, '--name', 'bench-mem', '--flow-interval', '1s', '--datapath-name', PIN_NAME, '--detach'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM'); // --detach: it removes its programs
      for (let i = 0; i < 100 && child.exitCode === null; i++) await sleep(50);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
  const gen = async () => Number(/^cordon_policy_generation (\d+)$/m.exec(await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => ''))?.[1] ?? -1);
  const t0 = Date.now();
  while ((await gen()) < generation) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`the enforcer did not enforce its first generation:\n${err}`);
    await sleep(100);
  }
  await sleep(5000); // a few flow polls and a status report, nothing to export
  const idle = rssMb(child.pid!);
  log(`enforcer-memory: idle ${idle} MB`);

  const dp = await Datapath.open({ name: PIN_NAME }); // a second handle on the enforcer's pinned maps
  const before = await batchesAccepted(ctl, 'bench-mem');
  const fillMs = await touchFlows(dp, FLOWS, 0);
  const tracked = (await dp.mapFill()).flows.entries;
  dp.close();
  const expected = Math.ceil(FLOWS / FLOW_BATCH_RECORDS);
  const t1 = Date.now();
  let peak = idle;
  while ((await batchesAccepted(ctl, 'bench-mem')) < before + expected) {
    peak = Math.max(peak, rssMb(child.pid!));
    if (Date.now() - t1 > 180_000) throw new Error('the flows were not all exported within 180 s');
    await sleep(100);
  }
  const exportMs = Date.now() - t1; // from the last SYN run to the last batch accepted
  await sleep(3000); // the next polls find nothing new
  const withFlows = rssMb(child.pid!);
  peak = Math.max(peak, withFlows);
  log(`enforcer-memory: ${tracked} tracked flows: ${withFlows} MB (peak ${peak} MB while exporting)`);
  return {
    bench: 'enforcer-memory',
    measure: 'VmRSS of the cordon enforcer process',
    idleMb: idle,
    trackedFlows: tracked,
    withFlowsMb: withFlows,
    peakWhileExportingMb: peak,
    fillMs: Math.round(fillMs),
    exportMs,
    targetIdleMb: 100,
    ok: idle < 100,
  };
});
