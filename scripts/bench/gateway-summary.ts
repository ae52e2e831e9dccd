// SPDX-License-Identifier: Apache-2.0
/**
 * The gateway goals of issue 13 over several rounds: one round drifts more
 * than the differences it measures (the two no-filter runs of one `netbench
 * compare` often differ by 0.3 or more), so each metric is taken per round, as
 * Cordon's ratio to that round's no filter and to nft-set's, and the median
 * over the rounds is what is judged.
 *
 * A round is a `netbench compare` (its baseline: the mean of its two no-filter
 * runs; nft-set always just before Cordon) or one rotation of
 * scripts/bench/gateway-alternate.ts (no filter, nft-set and Cordon each in
 * another place of the order every round).
 *
 * Usage: tsx gateway-summary.ts netbench-1.json netbench-2.json ...
 * Prints a table on stderr and JSON on stdout.
 */
import { readFileSync } from 'node:fs';

export type Metrics = Record<string, number | null>;

/** One round: each filter's figures, measured in the same few minutes. */
export interface Round {
  none: Metrics;
  nftSet: Metrics;
  cordon: Metrics;
  /** |first no-filter run - last| as ratios to their mean, where the round had two */
  noneDrift?: Metrics;
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
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Medians over the rounds, per metric, and whether each goal is met; the table goes to stderr. */
export function summarize(rounds: Round[], title: string) {
  const rows = METRICS.map((m) => {
    const toNone: number[] = [];
    const nftSetToNone: number[] = [];
    const toNftSet: number[] = [];
    const drift: number[] = [];
    for (const r of rounds) {
      const [c, n, base] = [r.cordon[m.key], r.nftSet[m.key], r.none[m.key]];
      if (c == null || n == null || base == null || base === 0) continue; // a failed measure
      toNone.push(c / base);
      nftSetToNone.push(n / base);
      toNftSet.push(c / n);
      const d = r.noneDrift?.[m.key];
      if (d != null) drift.push(d);
    }
    const vsNftSet = median(toNftSet);
    const cordonToNone = median(toNone);
    const meetsNftSet = m.higherIsBetter ? vsNftSet >= 1 : vsNftSet <= 1;
    const meetsNone = !('minToNone' in m) || cordonToNone >= m.minToNone;
    return {
      metric: m.key,
      name: m.name,
      rounds: toNftSet.length,
      cordonToNone: round3(cordonToNone),
      nftSetToNone: round3(median(nftSetToNone)),
      cordonToNftSet: round3(vsNftSet),
      cordonToNftSetPerRound: toNftSet.map(round3),
      noneDrift: drift.length ? round3(median(drift)) : null,
      goal: m.key === 'tcp_gbps' ? null : meetsNftSet && meetsNone,
    };
  });
  process.stderr.write(`${title} (medians; Cordon / nft-set: rates higher is better, latencies lower):\n`);
  process.stderr.write('metric        Cordon/none  nft-set/none  Cordon/nft-set  per round            none drift  goal\n');
  for (const r of rows)
    process.stderr.write(
      `${r.name.padEnd(13)} ${String(r.cordonToNone).padStart(11)} ${String(r.nftSetToNone).padStart(13)} ${String(r.cordonToNftSet).padStart(15)}  ${r.cordonToNftSetPerRound.join(' ').padEnd(20)} ${String(r.noneDrift ?? '-').padStart(10)}  ${r.goal === null ? '-' : r.goal ? 'met' : 'not met'}\n`,
    );
  return { rounds: rounds.length, metrics: rows };
}

interface NetbenchRun {
  label: string;
  mode: string;
  metrics: Metrics;
  ratio_to_baseline: Metrics;
}

/** A `netbench compare --json` result as a round. */
function compareRound(file: string): Round {
  const c = JSON.parse(readFileSync(file, 'utf8')) as { baseline_metrics: Metrics; runs: NetbenchRun[] };
  const run = (mode: string) => {
    const r = c.runs.find((x) => x.mode === mode);
    if (!r) throw new Error(`${file}: no ${mode} run (labels: ${c.runs.map((x) => x.label).join(', ')})`);
    return r;
  };
  const nones = c.runs.filter((r) => r.mode === 'none');
  const noneDrift: Metrics = {};
  if (nones.length === 2)
    for (const k of Object.keys(c.baseline_metrics)) {
      const [a, b] = [nones[0].ratio_to_baseline[k], nones[1].ratio_to_baseline[k]];
      noneDrift[k] = a == null || b == null ? null : Math.abs(a - b);
    }
  return { none: c.baseline_metrics, nftSet: run('nft-set').metrics, cordon: run('custom').metrics, noneDrift };
}

if (require.main === module) {
  try {
    const files = process.argv.slice(2);
    if (files.length === 0) throw new Error('usage: gateway-summary.ts netbench-1.json [...]');
    const out = summarize(files.map(compareRound), `gateway over ${files.length} netbench compare runs`);
    process.stdout.write(JSON.stringify(out) + '\n');
  } catch (e) {
    process.stderr.write(`gateway-summary: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
