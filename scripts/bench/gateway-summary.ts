// SPDX-License-Identifier: Apache-2.0
/**
 * The gateway goals of issue 13 over several `netbench compare` runs: one run
 * drifts more than the differences it measures (its two no-filter runs often
 * differ by 0.3 or more), so each metric is taken per run, as Cordon's ratio to
 * that run's no-filter baseline and to nft-set's figure measured just before
 * Cordon's, and the median over the runs is what is judged.
 *
 * Usage: tsx gateway-summary.ts netbench-1.json netbench-2.json ...
 * Prints a table on stderr and JSON on stdout.
 */
import { readFileSync } from 'node:fs';

interface NetbenchRun {
  label: string;
  mode: string;
  metrics: Record<string, number | null>;
  ratio_to_baseline: Record<string, number | null>;
}
interface NetbenchCompare {
  runs: NetbenchRun[];
}

const METRICS = [
  { key: 'udp64_rx_pps', name: 'UDP64 rx', higherIsBetter: true, minToNone: 0.95 },
  { key: 'conn_per_s', name: 'TCP conn/s', higherIsBetter: true },
  { key: 'rr_avg_us', name: 'RR avg', higherIsBetter: false },
  { key: 'rr_p99_us', name: 'RR p99', higherIsBetter: false },
  { key: 'ping_avg_us', name: 'ping avg', higherIsBetter: false },
  { key: 'ping_p99_us', name: 'ping p99', higherIsBetter: false },
  { key: 'tcp_gbps', name: 'TCP Gbit/s', higherIsBetter: true },
] as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number) => Math.round(x * 1000) / 1000;

function runOf(c: NetbenchCompare, pick: (r: NetbenchRun) => boolean, file: string): NetbenchRun {
  const r = c.runs.find(pick);
  if (!r) throw new Error(`${file}: no such run (labels: ${c.runs.map((x) => x.label).join(', ')})`);
  return r;
}

function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error('usage: gateway-summary.ts netbench-1.json [...]');
  const compares = files.map((f) => ({ file: f, c: JSON.parse(readFileSync(f, 'utf8')) as NetbenchCompare }));
  const rows = METRICS.map((m) => {
    const toNone: number[] = [];
    const nftSetToNone: number[] = [];
    const toNftSet: number[] = [];
    const drift: number[] = [];
    for (const { file, c } of compares) {
      const cordon = runOf(c, (r) => r.mode === 'custom', file);
      const nftSet = runOf(c, (r) => r.mode === 'nft-set', file);
      const nones = c.runs.filter((r) => r.mode === 'none');
      const a = cordon.metrics[m.key];
      const b = nftSet.metrics[m.key];
      if (a === null || b === null || cordon.ratio_to_baseline[m.key] == null) continue; // a failed measure
      toNone.push(cordon.ratio_to_baseline[m.key]!);
      nftSetToNone.push(nftSet.ratio_to_baseline[m.key]!);
      toNftSet.push(a / b);
      if (nones.length === 2) drift.push(Math.abs(nones[0].ratio_to_baseline[m.key]! - nones[1].ratio_to_baseline[m.key]!));
    }
    const vsNftSet = median(toNftSet);
    const cordonToNone = median(toNone);
    const meetsNftSet = m.higherIsBetter ? vsNftSet >= 1 : vsNftSet <= 1;
    const meetsNone = !('minToNone' in m) || cordonToNone >= m.minToNone;
    return {
      metric: m.key,
      name: m.name,
      runs: toNftSet.length,
      cordonToNone: round(cordonToNone),
      nftSetToNone: round(median(nftSetToNone)),
      cordonToNftSet: round(vsNftSet),
      cordonToNftSetPerRun: toNftSet.map(round),
      noneDrift: round(median(drift)),
      goal: m.key === 'tcp_gbps' ? null : meetsNftSet && meetsNone,
    };
  });
  process.stderr.write(`gateway over ${compares.length} netbench compare runs (medians; Cordon / nft-set: rates higher is better, latencies lower):\n`);
  process.stderr.write('metric        Cordon/none  nft-set/none  Cordon/nft-set  per run              none drift  goal\n');
  for (const r of rows)
    process.stderr.write(
      `${r.name.padEnd(13)} ${String(r.cordonToNone).padStart(11)} ${String(r.nftSetToNone).padStart(13)} ${String(r.cordonToNftSet).padStart(15)}  ${r.cordonToNftSetPerRun.join(' ').padEnd(20)} ${String(r.noneDrift).padStart(10)}  ${r.goal === null ? '-' : r.goal ? 'met' : 'not met'}\n`,
    );
  process.stdout.write(JSON.stringify({ compares: files.length, metrics: rows }) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`gateway-summary: ${(e as Error).message}\n`);
  process.exit(1);
}
