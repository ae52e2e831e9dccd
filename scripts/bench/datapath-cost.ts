// SPDX-License-Identifier: Apache-2.0
/**
 * In-kernel cost per packet (BPF_PROG_TEST_RUN) at 10, 1,000, 10,000 and
 * 100,000 policy entries, and the time to write and swap a generation, each
 * also as a ratio to the reference program (bpf/bench/reference.bpf.c: parse,
 * one hash lookup, one counter) run on the same packet in the same run.
 * decision is a denied packet through the full judge (ipcache and policy every time: the tc denied-repeat
 * short-cut off); deniedRepeat the same packet with the short-cut on (bpf/lib/denied.h), as a flood's repeats are.
 * Prints JSON on stdout: { sizes: [{entries, establishedNs, decisionNs, deniedRepeatNs, newConnNs, applyMs}], ratios, reference }.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { packet, TCP_FLAGS } from '../../test/support/packets';
import { benchGeneration } from './fixtures';

const SIZES = [10, 1000, 10000, 100000];
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1000000);
const NEW_CONNS = Number(process.env.BENCH_NEW_CONNS ?? 20000);

async function measure(entries: number) {
  const name = `bench-cost-${entries}`;
  Datapath.removePins(name);
  Datapath.removePins(`${name}-full`);
  const dp = await Datapath.open({ name, eventRate: 1000, eventBurst: 1000 });
  const full = await Datapath.open({ name: `${name}-full`, eventRate: 1000, eventBurst: 1000, deniedShortcut: false });
  try {
    const gen = benchGeneration(entries, { client4: '10.1.0.0/16', server4: '10.2.0.0/16' });
    const applyMs = (await dp.applyGeneration(gen)).durationMs;
    await full.applyGeneration(gen);
    // established: an allowed TCP flow's forward packets, after the first
    const est = packet({ src: '10.1.0.5', dst: '10.2.0.9', protocol: 'tcp', sport: 40000, dport: 5201, tcpFlags: TCP_FLAGS.ACK });
    await dp.testRun(est);
    const established = await dp.testRun(est, { repeat: REPEAT });
    // decision: a denied packet is judged against the policy every time (the full judge: short-cut off)
    const denied = packet({ src: '10.2.0.9', dst: '10.1.0.5', protocol: 'udp', sport: 53, dport: 40000 });
    const decision = await full.testRun(denied, { repeat: REPEAT });
    // denied repeat: the same packet, denied again from its flow's entry
    const deniedRepeat = await dp.testRun(denied, { repeat: REPEAT });
    // new connections: distinct SYNs, each inserted into the flow table
    // (one run each, so the median resists the page faults and timer ticks a single run can catch)
    const runs: number[] = [];
    for (let i = 0; i < NEW_CONNS; i++) {
      const syn = packet({ src: `10.1.${(i >> 8) & 255}.${i & 255}`, dst: '10.2.0.9', protocol: 'tcp', sport: 10000 + (i % 50000), dport: 5201 });
      runs.push((await dp.testRun(syn)).durationNs);
    }
    runs.sort((a, b) => a - b);
    // A single run's fixed overhead, measured the way the new connections are (one run each, through the addon):
    // the established packet run once, less its repeated cost.
    const singles: number[] = [];
    for (let i = 0; i < 301; i++) singles.push((await dp.testRun(est)).durationNs);
    singles.sort((a, b) => a - b);
    const singleRunOverheadNs = Math.max(0, singles[singles.length >> 1] - established.durationNs);
    if (!established.passed || decision.passed || deniedRepeat.passed) throw new Error('benchmark packets got the wrong verdict');
    return { entries, establishedNs: established.durationNs, decisionNs: decision.durationNs, deniedRepeatNs: deniedRepeat.durationNs, newConnNs: runs[runs.length >> 1], singleRunOverheadNs, applyMs: Math.round(applyMs * 10) / 10 };
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

/** The reference program's cost on a packet: repeated (as established and decision are) and the median of single runs (as new connections are). */
function referenceCost(pkt: Buffer) {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-ref-'));
  const file = join(dir, 'packet');
  writeFileSync(file, pkt);
  rmSync(REFERENCE_PIN, { force: true });
  execFileSync('bpftool', ['prog', 'load', join(__dirname, '../../bpf/bench/reference.bpf.o'), REFERENCE_PIN, 'type', 'classifier']);
  const run = (repeat: number) => {
    const out = execFileSync('bpftool', ['prog', 'run', 'pinned', REFERENCE_PIN, 'data_in', file, 'repeat', String(repeat)], { encoding: 'utf8' });
    const m = /duration(?: \(average\))?: (\d+)ns/.exec(out);
    if (!m) throw new Error(`bpftool prog run printed no duration: ${out}`);
    return Number(m[1]);
  };
  try {
    const repeatedNs = run(REPEAT);
    const singles = Array.from({ length: 301 }, () => run(1)).sort((a, b) => a - b);
    return { repeatedNs, singleRunNs: singles[singles.length >> 1] };
  } finally {
    rmSync(REFERENCE_PIN, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const classification = await classificationCost();
  process.stderr.write(`classification: ${JSON.stringify(classification)}\n`);
  await measure(SIZES[0]); // warm-up: the kernel's map allocators and caches, not recorded
  const sizes = [];
  for (const n of SIZES) {
    sizes.push(await measure(n));
    process.stderr.write(`datapath cost: ${JSON.stringify(sizes[sizes.length - 1])}\n`);
  }
  const reference = referenceCost(packet({ src: '10.1.0.5', dst: '10.2.0.9', protocol: 'tcp', sport: 40000, dport: 5201, tcpFlags: TCP_FLAGS.ACK }));
  process.stderr.write(`reference program: ${JSON.stringify(reference)}\n`);
  const toReference = sizes.map((s) => ({
    entries: s.entries,
    established: +(s.establishedNs / reference.repeatedNs).toFixed(2),
    decision: +(s.decisionNs / reference.repeatedNs).toFixed(2),
    deniedRepeat: +(s.deniedRepeatNs / reference.repeatedNs).toFixed(2),
    // a single run carries a fixed overhead, measured through the addon as the new connections are (the
    // reference's own single runs go through a bpftool process each, whose overhead is another's): taken off first
    newConn: +((s.newConnNs - s.singleRunOverheadNs) / reference.repeatedNs).toFixed(2),
  }));
  const base = sizes[0];
  const ratios = sizes.map((s) => ({
    entries: s.entries,
    established: +(s.establishedNs / base.establishedNs).toFixed(3),
    decision: +(s.decisionNs / base.decisionNs).toFixed(3),
    deniedRepeat: +(s.deniedRepeatNs / base.deniedRepeatNs).toFixed(3),
    newConn: +(s.newConnNs / base.newConnNs).toFixed(3),
  }));
  process.stdout.write(JSON.stringify({ repeat: REPEAT, newConnections: NEW_CONNS, sizes, ratiosTo10Entries: ratios, reference, ratiosToReference: toReference, classification }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
