// SPDX-License-Identifier: Apache-2.0
/**
 * Flow counter throughput: flows per second an enforcer exports to the
 * controller. A real enforcer (the daemon's Enforcer, real datapath, its
 * interface in a namespace) against a `cordon controller` process. BENCH_FLOWS
 * distinct connections (default 100,000) are created in its flow table by
 * running the real program on generated SYNs (BPF_PROG_TEST_RUN); then one
 * counter poll is cut and timed until the controller has accepted every batch
 * (cordon_flow_batches_total). Repeated BENCH_ROUNDS times (default 3), each
 * round touching every flow again so each is exported again.
 * Prints one JSON line; progress on stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { validateEnforcerConfig } from '../../apps/enforcer/src/config';
import type { DatapathPort } from '../../apps/enforcer/src/datapath.port';
import { Enforcer } from '../../apps/enforcer/src/enforcer';
import { FLOW_BATCH_RECORDS } from '../../apps/enforcer/src/flow-collector';
import { Datapath } from '../../native/lib/datapath';
import { apply, batchesAccepted, enrollmentToken, FLOW_SITE, gatewayNamespace, log, onCleanup, percentile, requireRoot, run, sleep, startController, touchFlows } from './control-support';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PIN_NAME = 'bench-flow-throughput';

run(async () => {
  requireRoot('flow-throughput');
  const ctl = await startController();
  const { netns, ifname } = gatewayNamespace('cbench-flow');
  Datapath.removePins(PIN_NAME);
  onCleanup(() => Datapath.removePins(PIN_NAME));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-flow-'));
  onCleanup(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const { generation } = await apply(ctl, FLOW_SITE);
  const dp = await Datapath.open({ name: PIN_NAME });
  const cfg = validateEnforcerConfig(
    // Polls are cut by hand below; the daemon's own timer stays out of the way.
    { controller: ctl.grpc, token: await enrollmentToken(ctl), interface: [ifname], stateDir, metrics: '127.0.0.1:0', name: 'bench-flow', flowInterval: '60m', netns },
    { datapath: dp as DatapathPort, log: pino({ level: 'silent' }) },
  );
  const enforcer = await new Enforcer(cfg).start();
  onCleanup(() => enforcer.stop({ detach: true }));
  while (dp.state().generation < generation) await sleep(10);
  const collector = (enforcer as unknown as { collector: { poll(): Promise<void>; queue: { length: number } } }).collector;

  const rounds: Array<{ flows: number; batches: number; pollMs: number; exportMs: number; flowsPerSecond: number; fillMs: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const fillMs = await touchFlows(dp, FLOWS, r);
    const before = await batchesAccepted(ctl, 'bench-flow');
    const expected = Math.ceil(FLOWS / FLOW_BATCH_RECORDS);
    const t0 = performance.now();
    await collector.poll(); // read the kernel's flow table, diff, cut batches
    const pollMs = performance.now() - t0;
    while ((await batchesAccepted(ctl, 'bench-flow')) < before + expected) {
      if (performance.now() - t0 > 120_000) throw new Error('the controller did not accept every batch within 120 s');
      // Every 25 ms, not 5: each scrape costs the controller a /metrics render and a document
      // count query, which at 200 a second was a tenth of the time it had for the flows measured.
      await sleep(25);
    }
    const exportMs = performance.now() - t0;
    const got = (await batchesAccepted(ctl, 'bench-flow')) - before;
    rounds.push({ flows: FLOWS, batches: got, pollMs: +pollMs.toFixed(1), exportMs: +exportMs.toFixed(1), flowsPerSecond: Math.round(FLOWS / (exportMs / 1000)), fillMs: Math.round(fillMs) });
    log(`flow-throughput round ${r}: ${JSON.stringify(rounds.at(-1))}`);
  }
  const fill = await dp.mapFill();
  await enforcer.stop({ detach: true });
  const rates = rounds.map((r) => r.flowsPerSecond);
  return {
    bench: 'flow-throughput',
    measure: 'flow records read from the kernel, batched, sent over mTLS gRPC and accepted by the controller, per second',
    flowsPerRound: FLOWS,
    batchRecords: FLOW_BATCH_RECORDS,
    flowsPerSecondMedian: percentile(rates, 50),
    // The enforcer's side alone: reading the kernel's flow table, diffing and cutting batches.
    enforcerPollFlowsPerSecond: Math.round(FLOWS / (percentile(rounds.map((r) => r.pollMs), 50) / 1000)),
    flowsPerSecondMin: Math.min(...rates),
    flowTable: fill.flows,
    rounds,
  };
});
