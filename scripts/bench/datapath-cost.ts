// SPDX-License-Identifier: Apache-2.0
/**
 * In-kernel cost per packet (BPF_PROG_TEST_RUN) at 10, 1,000, 10,000 and
 * 100,000 policy entries, and the time to write and swap a generation, each
 * also as a ratio to the reference program (bpf/bench/reference.bpf.c: parse,
 * one hash lookup, one counter) run on the same packet just after each size.
 * establishedEcho is the same for an allowed ICMP echo request's flow (ping's packets).
 * decision is a denied packet through the full judge (ipcache and policy every time: the tc denied-repeat
 * short-cut off); deniedRepeat the same packet with the short-cut on (bpf/lib/denied.h), as a flood's repeats are.
 * newConn is a new connection from a new source (scripts/bench/new-source-driver.ts), its driver's cost taken off.
 * Prints JSON on stdout: { sizes: [{entries, establishedNs, establishedEchoNs, decisionNs, deniedRepeatNs, newConnNs, newConnFullTableNs, applyMs, referenceNs}], ratios, reference }.
 */
import { rmSync } from 'node:fs';
import { Datapath } from '../../native/lib/datapath';
import { packet, TCP_FLAGS } from '../../test/support/packets';
import { load, packetFile, runPinned } from './bpftool-prog';
import { benchGeneration } from './fixtures';
import { NewSourceDriver } from './new-source-driver';

const SIZES = [10, 1000, 10000, 100000];
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1000000);
// established, decision, denied repeat and the reference: the fastest of RUNS runs of REPEAT (this VM's
// neighbours and kdamond only ever add time: one run differed from the next by up to 1.5x)
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// new connections: NEW_CONN_RUNS runs of NEW_CONN_REPEAT into one flow table (262,144 entries): newConn is the
// median of the runs with the table filling (0 -> 250,000), newConnFullTable of those that found it full (each
// evicts the oldest)
const NEW_CONN_REPEAT = Number(process.env.BENCH_NEW_CONN_REPEAT ?? 50000);
const NEW_CONN_RUNS = Number(process.env.BENCH_NEW_CONN_RUNS ?? 10);
// an allowed TCP flow's forward packet, after its first: established, and the reference program's packet
const ESTABLISHED_ACK = packet({ src: '10.1.0.5', dst: '10.2.0.9', protocol: 'tcp', sport: 40000, dport: 5201, tcpFlags: TCP_FLAGS.ACK });
// the SYN the driver gives a new source (in the client /16) and port at every repeat
const NEW_SOURCE_SYN = packet({ src: '10.1.0.0', dst: '10.2.0.9', protocol: 'tcp', sport: 10000, dport: 5201 });

/** The fastest of RUNS test runs of REPEAT, with the verdict of every run. */
async function fastest(dp: Datapath, pkt: Buffer): Promise<{ passed: boolean[]; durationNs: number }> {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await dp.testRun(pkt, { repeat: REPEAT }));
  return { passed: runs.map((r) => r.passed), durationNs: Math.min(...runs.map((r) => r.durationNs)) };
}

async function measure(entries: number, driver: NewSourceDriver, driverNs: number) {
  const name = `bench-cost-${entries}`;
  Datapath.removePins(name);
  Datapath.removePins(`${name}-full`);
  const dp = await Datapath.open({ name, eventRate: 1000, eventBurst: 1000 });
  const full = await Datapath.open({ name: `${name}-full`, eventRate: 1000, eventBurst: 1000, deniedShortcut: false });
  try {
    const gen = benchGeneration(entries, { client4: '10.1.0.0/16', server4: '10.2.0.0/16' });
    const applyMs = (await dp.applyGeneration(gen)).durationMs;
    await full.applyGeneration(gen);
    await dp.testRun(ESTABLISHED_ACK);
    const established = await fastest(dp, ESTABLISHED_ACK);
    const echo = packet({ src: '10.1.0.5', dst: '10.2.0.9', protocol: 'icmp', icmpType: 8, icmpId: 7 });
    await dp.testRun(echo);
    const establishedEcho = await fastest(dp, echo);
    // decision: a denied packet is judged against the policy every time (the full judge: short-cut off)
    const denied = packet({ src: '10.2.0.9', dst: '10.1.0.5', protocol: 'udp', sport: 53, dport: 40000 });
    const decision = await fastest(full, denied);
    // denied repeat: the same packet, denied again from its flow's entry
    const deniedRepeat = await fastest(dp, denied);
    // new connections: a new source and port at every repeat (bpf/bench/new-source.bpf.c), the driver's cost taken off
    const newConn = await driver.connectionNs(dp, NEW_SOURCE_SYN);
    const allowed = [...established.passed, ...establishedEcho.passed];
    if (!allowed.every(Boolean) || decision.passed.some(Boolean) || deniedRepeat.passed.some(Boolean)) throw new Error('benchmark packets got the wrong verdict');
    return { entries, establishedNs: established.durationNs, establishedEchoNs: establishedEcho.durationNs, decisionNs: decision.durationNs, deniedRepeatNs: deniedRepeat.durationNs, newConnNs: newConn.fillingNs - driverNs, newConnFullTableNs: newConn.fullNs === null ? null : newConn.fullNs - driverNs, applyMs: Math.round(applyMs * 10) / 10 };
  } finally {
    for (const d of [dp, full]) {
      d.unpin();
      d.close();
    }
  }
}

/** Established-flow cost of packets with a payload, payload classification on and off. */
async function classificationCost() {
  const out: Record<string, number> = {};
  for (const on of [false, true]) {
    const name = `bench-classify-${on ? 'on' : 'off'}`;
    Datapath.removePins(name);
    const dp = await Datapath.open({ name, classifyPayload: on });
    try {
      await dp.applyGeneration(benchGeneration(10000, { client4: '10.1.0.0/16', server4: '10.2.0.0/16' }));
      const tls = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x5b]), Buffer.alloc(91, 0x11)]);
      const est = packet({ src: '10.1.0.5', dst: '10.2.0.9', protocol: 'tcp', sport: 40001, dport: 8883, tcpFlags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, payload: tls });
      await dp.testRun(est);
      out[on ? 'onNs' : 'offNs'] = (await dp.testRun(est, { repeat: REPEAT })).durationNs;
    } finally {
      dp.unpin();
      dp.close();
    }
  }
  return { ...out, ratioOnToOff: +(out.onNs / out.offNs).toFixed(3) };
}

const REFERENCE_PIN = '/sys/fs/bpf/cordon-bench-reference';

/**
 * The reference program on the established packet, repeated as established and decision are;
 * measured again beside each size, so a size's ratios come from the same minute as its figures.
 */
class Reference {
  private readonly pkt = packetFile(ESTABLISHED_ACK);

  constructor() {
    load('reference.bpf.o', REFERENCE_PIN);
  }

  ns(): number {
    return Math.min(...Array.from({ length: RUNS }, () => runPinned(REFERENCE_PIN, this.pkt.file, REPEAT)));
  }

  close(): void {
    rmSync(REFERENCE_PIN, { force: true });
    this.pkt.remove();
  }
}

async function main() {
  const classification = await classificationCost();
  process.stderr.write(`classification: ${JSON.stringify(classification)}\n`);
  const driver = NewSourceDriver.load(NEW_CONN_REPEAT, NEW_CONN_RUNS);
  const ref = new Reference();
  const sizes = [];
  let driverNs: number;
  try {
    driverNs = driver.driverNs(NEW_SOURCE_SYN);
    process.stderr.write(`new-source driver: ${driverNs} ns\n`);
    await measure(SIZES[0], driver, driverNs); // warm-up: the kernel's map allocators and caches, not recorded
    for (const n of SIZES) {
      sizes.push({ ...(await measure(n, driver, driverNs)), referenceNs: ref.ns() });
      process.stderr.write(`datapath cost: ${JSON.stringify(sizes[sizes.length - 1])}\n`);
    }
  } finally {
    driver.close();
    ref.close();
  }
  const reference = { repeatedNs: Math.min(...sizes.map((s) => s.referenceNs)), perSize: sizes.map((s) => s.referenceNs) };
  process.stderr.write(`reference program: ${JSON.stringify(reference)}\n`);
  const toReference = sizes.map((s) => ({
    entries: s.entries,
    referenceNs: s.referenceNs,
    established: +(s.establishedNs / s.referenceNs).toFixed(2),
    establishedEcho: +(s.establishedEchoNs / s.referenceNs).toFixed(2),
    decision: +(s.decisionNs / s.referenceNs).toFixed(2),
    deniedRepeat: +(s.deniedRepeatNs / s.referenceNs).toFixed(2),
    newConn: +(s.newConnNs / s.referenceNs).toFixed(2),
    newConnFullTable: s.newConnFullTableNs === null ? null : +(s.newConnFullTableNs / s.referenceNs).toFixed(2),
  }));
  const base = sizes[0];
  const ratios = sizes.map((s) => ({
    entries: s.entries,
    established: +(s.establishedNs / base.establishedNs).toFixed(3),
    establishedEcho: +(s.establishedEchoNs / base.establishedEchoNs).toFixed(3),
    decision: +(s.decisionNs / base.decisionNs).toFixed(3),
    deniedRepeat: +(s.deniedRepeatNs / base.deniedRepeatNs).toFixed(3),
    newConn: +(s.newConnNs / base.newConnNs).toFixed(3),
  }));
  process.stdout.write(JSON.stringify({ repeat: REPEAT, runs: RUNS, newConnections: { repeat: NEW_CONN_REPEAT, runs: NEW_CONN_RUNS, driverNs }, sizes, ratiosTo10Entries: ratios, reference, ratiosToReference: toReference, classification }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
