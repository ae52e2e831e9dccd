// SPDX-License-Identifier: Apache-2.0
/**
 * The gateway with the order alternated: `netbench compare` always measures
 * nft-set just before Cordon, so whatever drifts along its run (and Cordon's
 * custom-up process just before its measure) lands on one side. Here one
 * topology (`netbench up`) is measured (`netbench measure`) under no filter,
 * nft-set and Cordon in turn, rotated every round so that each takes every
 * place of the order, and gateway-summary.ts judges the medians.
 *
 * Usage: tsx gateway-alternate.ts [rounds=3] [rules=10000] [duration=5]
 * (root; ../shared/bench/netbench). JSON on stdout, the table on stderr.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Metrics, Round, summarize } from './gateway-summary';

const NETBENCH = path.resolve(__dirname, '../../../shared/bench/netbench');
const FILTER = path.resolve(__dirname, 'netbench-filter.ts');
const TSX = path.resolve(__dirname, '../../node_modules/.bin/tsx');
type Filter = 'none' | 'nftSet' | 'cordon';
const ORDER: Filter[] = ['none', 'nftSet', 'cordon'];

const netbench = (...args: string[]) => execFileSync('bash', [NETBENCH, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * What netbench's custom filters are told (README of shared/bench), read from
 * what `up` prints: "up: nb-client (C4, C6) -> nb-gw -> nb-server (S4, S6)"
 * and "gw interfaces: IFC (client side) IFS (server side)".
 */
function topology(upOutput: string): NodeJS.ProcessEnv {
  const up = /up: \S+ \(([^,]+), ([^)]+)\) -> (\S+) -> \S+ \(([^,]+), ([^)]+)\)/.exec(upOutput);
  const ifs = /gw interfaces: (\S+) \(client side\) (\S+) \(server side\)/.exec(upOutput);
  if (!up || !ifs) throw new Error(`netbench up printed no topology:\n${upOutput}`);
  return {
    NETBENCH_CLIENT_IP: up[1],
    NETBENCH_CLIENT_IP6: up[2],
    NETBENCH_GW_NS: up[3],
    NETBENCH_SERVER_IP: up[4],
    NETBENCH_SERVER_IP6: up[5],
    NETBENCH_GW_IF_CLIENT: ifs[1],
    NETBENCH_GW_IF_SERVER: ifs[2],
  };
}

function measure(duration: number): Metrics {
  let out: string;
  try {
    out = netbench('measure', '--duration', String(duration), '--json');
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? ''); // exit 1 on a failed metric: the JSON is still printed
  }
  const r = JSON.parse(out) as { metrics: Metrics; errors: string[] };
  if (r.errors.length) process.stderr.write(`gateway-alternate: ${r.errors.join('; ')}\n`);
  return r.metrics;
}

function main() {
  const [rounds, rules, duration] = [Number(process.argv[2] ?? 3), Number(process.argv[3] ?? 10000), Number(process.argv[4] ?? 5)];
  if (!existsSync(NETBENCH)) throw new Error(`${NETBENCH} is not here (a user's clone)`);
  const env = { ...process.env, ...topology(netbench('up')) };
  const filter = (cmd: 'up' | 'down') => execFileSync(TSX, [FILTER, cmd, String(rules)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const out: Round[] = [];
  try {
    netbench('peer', 'none');
    measure(1); // warm-up, not recorded
    for (let r = 0; r < rounds; r++) {
      const round: Partial<Round> = {};
      for (let i = 0; i < ORDER.length; i++) {
        const f = ORDER[(r + i) % ORDER.length];
        netbench('peer', ...(f === 'nftSet' ? ['nft-set', String(rules)] : ['none']));
        if (f === 'cordon') filter('up');
        try {
          round[f] = measure(duration);
        } finally {
          if (f === 'cordon') filter('down');
        }
      }
      out.push(round as Round);
      process.stderr.write(`gateway-alternate: round ${r + 1} of ${rounds}, order ${ORDER.map((_, i) => ORDER[(r + i) % ORDER.length]).join(', ')}\n`);
    }
  } finally {
    netbench('down');
  }
  const summary = summarize(out, `gateway over ${rounds} alternated rounds, ${rules} rules`);
  process.stdout.write(JSON.stringify({ ...summary, perRound: out }) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`gateway-alternate: ${(e as Error).message}\n`);
  process.exit(1);
}
