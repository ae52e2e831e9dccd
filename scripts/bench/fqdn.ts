// SPDX-License-Identifier: Apache-2.0
/**
 * Policy by DNS name (issue 12), each figure beside its baseline in the same run:
 *  - answer-to-allowed latency at the enforcer: a device resolves 200 names
 *    through dnsmasq in a "world" namespace behind the gateway, one at a
 *    time, and connects to each answer at once; without Cordon (no enforcer:
 *    the query goes straight to dnsmasq) and with the enforcer's DNS proxy;
 *    p50/p99 of query->answer and query->connected, the ratio with/without,
 *    and how many first SYNs passed (all must);
 *  - answers learned per second: 2,500 distinct names, each answered with 20
 *    distinct addresses by a synthetic server (test/support/dns-synth-server.js),
 *    as fast as 64 concurrent queries go; learned = cordon_fqdn_addresses;
 *  - the datapath's decision cost (BPF_PROG_TEST_RUN) for packets to a learned
 *    address with 10,000 learned addresses beside 10 (goal: ratio <= 1.10).
 * Prints JSON on stdout; progress on stderr. Run as root (namespaces, eBPF).
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VERDICT } from '../../native/lib/abi';
import { Datapath } from '../../native/lib/datapath';
import { packet, TCP_FLAGS } from '../../test/support/packets';
import { FqdnGateway, synthDns } from '../../test/support/fqdn-gateway';
import { down, gatewayNs, site, spawnIn, Topology, up } from '../topology';
import { benchGeneration, CLIENT_ID } from './fixtures';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 1000000);
const SINGLE_RUNS = 3001;
const SELECTOR = 900;
const log = (s: string) => process.stderr.write(`fqdn: ${s}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const learned = (k: number) => `198.${18 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

/** A datapath with a 10,000-entry generation whose name selector allows tcp/443, and `entries` learned addresses. */
async function learnedDatapath(entries: number) {
  const name = `bench-fqdn-${entries}`;
  Datapath.removePins(name);
  const dp = await Datapath.open({ name, eventRate: 1000, eventBurst: 1000 });
  const gen = benchGeneration(10000, { client4: '10.1.0.0/16', server4: '10.2.0.0/16' });
  gen.policy = [...gen.policy, { srcIdentity: CLIENT_ID, dstIdentity: SELECTOR, protocol: 6, port: 443, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 9 }];
  await dp.applyGeneration({ ...gen, nameSelectors: true });
  const expiresNs = process.hrtime.bigint() + 3600n * 1_000_000_000n;
  dp.writeFqdn(Array.from({ length: entries }, (_, k) => ({ address: learned(k), expiresNs, selectors: [SELECTOR] })));
  return { dp, entries, target: learned(entries >> 1) };
}

/**
 * Decision cost for packets to a learned address, 10 learned beside 10,000:
 * both datapaths loaded at once and measured in turn (decisions: three rounds,
 * the median; first SYNs: single runs alternated), so drift hits both alike.
 */
async function datapathCost() {
  const sets = [await learnedDatapath(10), await learnedDatapath(10000)];
  try {
    // decision: to a learned address, a port its selector does not allow: judged (and the map looked up) every time
    const decisions: number[][] = [[], []];
    for (let round = 0; round < 3; round++)
      for (const [i, x] of sets.entries()) {
        const r = await x.dp.testRun(packet({ src: '10.1.0.5', dst: x.target, protocol: 'tcp', sport: 40000, dport: 80, tcpFlags: TCP_FLAGS.SYN }), { repeat: REPEAT });
        if (r.passed) throw new Error('a denied benchmark packet passed');
        decisions[i].push(r.durationNs);
      }
    // first SYNs of new flows to it, allowed: each a single run
    const runs: number[][] = [[], []];
    for (let k = 0; k < SINGLE_RUNS; k++)
      for (const [i, x] of sets.entries()) {
        const r = await x.dp.testRun(packet({ src: `10.1.${(k >> 8) & 255}.${k & 255}`, dst: x.target, protocol: 'tcp', sport: 10000 + k, dport: 443, tcpFlags: TCP_FLAGS.SYN }));
        if (!r.passed) throw new Error(`the first SYN to a learned address was dropped (${x.entries} learned)`);
        runs[i].push(r.durationNs);
      }
    const sizes = sets.map((x, i) => ({ learned: x.entries, decisionNs: pct(decisions[i], 50), newConnNs: pct(runs[i], 50) }));
    return { sizes, ratio10000To10: { decision: +(sizes[1].decisionNs / sizes[0].decisionNs).toFixed(3), newConn: +(sizes[1].newConnNs / sizes[0].newConnNs).toFixed(3) }, goal: 1.1 };
  } finally {
    for (const x of sets) {
      x.dp.unpin();
      x.dp.close();
    }
  }
}

const T: Topology = { prefix: 'cfbe', net: 164, sites: [{ name: 'plugs', index: 1 }, { name: 'world', index: 2 }] };
const PLUGS = site(T, 'plugs');
const WORLD = site(T, 'world');
const SYNTH = '10.164.2.3';
const NAMES = 200;
const host = (i: number) => `10.164.2.${10 + i}`;
const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.164.1.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: resolvers }
spec: { cidrs: [${WORLD.v4}/32, ${SYNTH}/32] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-dns }
spec: { from: [plugs], to: [resolvers], allow: [ { protocol: udp, ports: ["53"] } ] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-names }
spec: { from: [plugs], to: [ { fqdn: "*.lat.test" }, { fqdn: "*.many.test" } ], allow: [ { protocol: tcp, ports: ["443"] } ] }
`;

const ms = (us: number) => +(us / 1000).toFixed(3);
const summary = (r: { answerUs: number[]; allowedUs: number[]; passed: number; sent: number }) => ({
  sent: r.sent,
  firstSynPassed: r.passed,
  answerP50Ms: ms(pct(r.answerUs, 50)),
  answerP99Ms: ms(pct(r.answerUs, 99)),
  allowedP50Ms: ms(pct(r.allowedUs, 50)),
  allowedP99Ms: ms(pct(r.allowedUs, 99)),
});

async function namespaces() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bench-fqdn-'));
  const children: ChildProcess[] = [];
  const gw = new FqdnGateway({
    gatewayNs: gatewayNs(T), deviceNs: PLUGS.ns, deviceIf: PLUGS.gwIf, proxy4: PLUGS.gw4, resolver: WORLD.v4, datapathName: 'bench-fqdn', metrics: '127.0.0.1:17495', work, site: SITE,
    args: ['--dns-resolver', SYNTH, '--fqdn-max-addresses', '65536', '--fqdn-min-ttl', '300s'],
  });
  down(T);
  up(T);
  try {
    const addr = (a: string) => execFileSync('ip', ['netns', 'exec', WORLD.ns, 'ip', 'addr', 'add', a, 'dev', 'eth0']);
    addr(`${SYNTH}/32`);
    const hosts: string[] = [];
    for (let i = 1; i <= NAMES; i++) {
      addr(`${host(i)}/32`);
      hosts.push(`${host(i)} n${i}.lat.test`);
    }
    fs.writeFileSync(path.join(work, 'hosts'), hosts.join('\n') + '\n');
    children.push(spawnIn(WORLD.ns, ['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${WORLD.v4}`, '--except-interface=lo',
      `--addn-hosts=${path.join(work, 'hosts')}`, '--local-ttl=300', '--cache-size=0', `--pid-file=${path.join(work, 'dnsmasq.pid')}`, '--user=root', '--log-facility=-']));
    children.push(spawnIn(WORLD.ns, [process.execPath, path.join(__dirname, '..', '..', 'test', 'support', 'traffic-agent.js'), 'serve', '443', '300']));
    children.push(await synthDns(WORLD.ns, SYNTH, 20, 300));
    await new Promise((r) => setTimeout(r, 500)); // dnsmasq and the server bound
    const names = Array.from({ length: NAMES }, (_, i) => `n${i + 1}.lat.test`);
    const timed = { mode: 'timed', resolver: WORLD.v4, names, type: 'A', port: 443, timeoutMs: 2000 };
    await gw.device({ ...timed, names: names.slice(0, 20) }); // warm-up: node, ARP, dnsmasq
    const without = summary(await gw.device(timed));
    log(`without Cordon: ${JSON.stringify(without)}`);
    await gw.start();
    const withCordon = summary(await gw.device(timed));
    log(`with the enforcer's proxy: ${JSON.stringify(withCordon)}`);

    // the synthetic server answers n<I>.many.test with 20 distinct addresses from I*20: 2,500 names, 50,000 addresses, none learned before
    const before = await gw.metric('cordon_fqdn_addresses');
    const t0 = process.hrtime.bigint();
    const r = await gw.device({ mode: 'burst', resolver: SYNTH, names: Array.from({ length: 2500 }, (_, i) => `n${i}.many.test`), type: 'A', concurrency: 64, timeoutMs: 3000 }, 150_000);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const got = (await gw.metric('cordon_fqdn_addresses')) - before;
    const learning = { names: 2500, addressesPerAnswer: 20, answered: r.answered, learned: got, seconds: +s.toFixed(2), answersPerSecond: Math.round(r.answered / s), addressesLearnedPerSecond: Math.round(got / s) };
    log(`learned: ${JSON.stringify(learning)}`);
    return { without, withCordon, learning, rssMiB: +(gw.rssBytes() / 2 ** 20).toFixed(1) };
  } finally {
    await gw.stop();
    for (const c of children) c.kill('SIGTERM');
    down(T);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  await datapathCost(); // warm-up: the kernel's map allocators and caches, not recorded
  const datapath = await datapathCost();
  log(`datapath: ${JSON.stringify(datapath)}`);
  const ns = await namespaces();
  const latency = {
    without: ns.without,
    withCordon: ns.withCordon,
    ratio: {
      answerP50: +(ns.withCordon.answerP50Ms / ns.without.answerP50Ms).toFixed(2),
      answerP99: +(ns.withCordon.answerP99Ms / ns.without.answerP99Ms).toFixed(2),
      allowedP50: +(ns.withCordon.allowedP50Ms / ns.without.allowedP50Ms).toFixed(2),
      allowedP99: +(ns.withCordon.allowedP99Ms / ns.without.allowedP99Ms).toFixed(2),
    },
  };
  process.stdout.write(JSON.stringify({ latency, learning: ns.learning, enforcerRssMiB: ns.rssMiB, datapath }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
