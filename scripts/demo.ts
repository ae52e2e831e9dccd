// SPDX-License-Identifier: Apache-2.0
/**
 * The demo: a controller on its embedded store, an enforcer on a gateway
 * namespace between three namespaces of devices (sensors, cameras, a broker),
 * the example policy, traffic that passes and traffic that is dropped, and
 * where to look. Leaves the site running; `npm run demo:down` removes it.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from './topology';

const ROOT = path.resolve(__dirname, '..');
const DIR = process.env.CORDON_DEMO_DIR ?? '/tmp/cordon-demo';
/** The device CA's key-encryption key, kept apart from the controller's data (the controller refuses it beside the key it seals). */
const SECRETS = `${DIR}-secrets`;
const KEK = path.join(SECRETS, 'kek');
const CLI = path.join(ROOT, 'bin', 'cordon.js');
const AGENT = path.join(ROOT, 'test', 'support', 'traffic-agent.js');
const HTTP = '127.0.0.1:7470';
const GRPC = '127.0.0.1:7471';
const METRICS = '127.0.0.1:7472';
const EST = '127.0.0.1:7473';
const topo: Topology = {
  prefix: 'cdemo',
  net: 77,
  sites: [
    { name: 'sensors', index: 1 },
    { name: 'cameras', index: 2 },
    { name: 'broker', index: 3 },
  ],
};

const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function daemon(name: string, args: string[]): ChildProcess {
  const log = fs.openSync(path.join(DIR, `${name}.log`), 'a');
  const child = spawn(process.execPath, [CLI, ...args], { detached: true, stdio: ['ignore', log, log] });
  fs.writeFileSync(path.join(DIR, `${name}.pid`), String(child.pid));
  child.unref();
  return child;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CORDON_SERVER: `http://${HTTP}`, ...env },
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what} (logs in ${DIR})`);
}

export function stopDemo(): void {
  for (const f of ['enforcer', 'controller']) {
    const pidFile = path.join(DIR, `${f}.pid`);
    if (!fs.existsSync(pidFile)) continue;
    try {
      process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGTERM');
    } catch {
      /* already gone */
    }
    fs.rmSync(pidFile);
  }
  down(topo);
  // the enforcer's pins (--datapath-name): a new demo starts from empty maps
  fs.rmSync('/sys/fs/bpf/cordon/demo-gateway', { recursive: true, force: true });
  fs.rmSync(SECRETS, { recursive: true, force: true });
}

async function main() {
  if (process.argv.includes('--down')) {
    stopDemo();
    say('demo removed');
    return;
  }
  stopDemo();
  await sleep(500);
  fs.rmSync(DIR, { recursive: true, force: true });
  fs.mkdirSync(DIR, { recursive: true });

  say('1. a gateway namespace between sensors, cameras and a broker');
  up(topo);
  const sensors = site(topo, 'sensors');
  const cameras = site(topo, 'cameras');
  const broker = site(topo, 'broker');

  say(`2. the controller on its embedded store (REST and /metrics on ${HTTP}, gRPC on ${GRPC}), with a device CA (EST on ${EST})`);
  // A fresh key-encryption key seals the device CA's key; on a real site it lives on another disk or a secrets mount.
  fs.mkdirSync(SECRETS, { recursive: true, mode: 0o700 });
  fs.writeFileSync(KEK, randomBytes(32), { mode: 0o600 });
  daemon('controller', ['controller', '--http', HTTP, '--grpc', GRPC, '--data-dir', path.join(DIR, 'controller'), '--kek-file', KEK, '--est', EST]);
  const tokenFile = path.join(DIR, 'controller', 'admin.token');
  await waitFor('the controller', async () => (await fetch(`http://${HTTP}/healthz`)).ok && fs.existsSync(tokenFile));
  await waitFor('the device CA', async () => (await fetch(`http://${HTTP}/v1/ca/cert`)).ok);
  const admin = fs.readFileSync(tokenFile, 'utf8').trim();
  const env = { CORDON_TOKEN: admin };

  say('3. the example policy (examples/site.yaml)');
  say(cli(['apply', '-f', path.join(ROOT, 'examples', 'site.yaml')], env).trimEnd());

  say(`4. an enforcer on the gateway's interfaces (${gatewayInterfaces(topo).join(', ')})`);
  const enroll = JSON.parse(cli(['token', 'create', '--name', 'demo-gateway', '--output', 'json'], env)) as { join: string };
  const ifArgs = gatewayInterfaces(topo).flatMap((i) => ['--interface', i]);
  daemon('enforcer', [
    'enforcer', '--controller', GRPC, '--token', enroll.join, '--name', 'demo-gateway', '--datapath-name', 'demo-gateway',
    '--netns', `/run/netns/${gatewayNs(topo)}`, ...ifArgs,
    '--state-dir', path.join(DIR, 'enforcer'), '--metrics', METRICS, '--flow-interval', '1s',
  ]);
  await waitFor('the enforcer to enforce the first generation', async () => {
    const m = await (await fetch(`http://${METRICS}/metrics`)).text();
    return /^cordon_policy_generation(\{[^}]*\})? [1-9]/m.test(m);
  });

  say('5. traffic through the gateway');
  const server = spawnIn(broker.ns, ['node', AGENT, 'serve', '8883', '3600']);
  const server22 = spawnIn(broker.ns, ['node', AGENT, 'serve', '22', '3600']);
  await sleep(500);
  const tries: [string, string, string[], boolean][] = [
    ['temp-01 (sensor) -> broker tcp 8883', sensors.ns, ['connect', broker.v4, '8883'], true],
    ['temp-01 (sensor) -> broker tcp 22', sensors.ns, ['connect', broker.v4, '22', '1000'], false],
    ['cam-07 (camera) -> broker tcp 8883', cameras.ns, ['connect', broker.v4, '8883'], true],
    ['cam-07 (camera) -> temp-01 tcp 22', cameras.ns, ['connect', sensors.v4, '22', '1000'], false],
    ['temp-01 (sensor) -> broker tcp 8883 over IPv6', sensors.ns, ['connect', broker.v6, '8883'], true],
  ];
  let wrong = 0;
  for (const [label, ns, args, expected] of tries) {
    const r = await runIn(ns, ['node', AGENT, ...args]);
    const ok = JSON.parse(r.stdout.trim() || '{}').ok === true;
    if (ok !== expected) wrong++;
    say(`   ${ok ? 'passed ' : 'dropped'}  ${label}${ok === expected ? '' : '   <-- not what the policy says!'}`);
  }
  const ping = await runIn(sensors.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', broker.v4]);
  say(`   ${ping.code === 0 ? 'passed ' : 'dropped'}  temp-01 -> broker ping`);
  const pingBack = await runIn(broker.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', sensors.v4]);
  say(`   ${pingBack.code === 0 ? 'passed ' : 'dropped'}  broker -> temp-01 ping`);
  if (ping.code !== 0 || pingBack.code === 0) wrong++;
  server.kill();
  server22.kill();

  await sleep(2500); // one flow interval for the counters to reach the controller
  say('\n6. what the datapath saw: cordon flows');
  try {
    say(cli(['flows'], env).trimEnd());
  } catch (e) {
    say(`   (cordon flows: ${(e as Error).message.split('\n')[0]})`);
  }
  say(`\n7. metrics: curl -s http://${METRICS}/metrics | grep cordon_flow_packets_total`);
  const metrics = await (await fetch(`http://${METRICS}/metrics`)).text();
  say(metrics.split('\n').filter((l) => l.startsWith('cordon_flow_packets_total')).map((l) => `   ${l}`).join('\n'));

  say(`
The site is running. Try (in a root shell as they are; from a user's shell, put sudo before ip and npm run):
  export CORDON_SERVER=http://${HTTP} CORDON_TOKEN=$(cat ${tokenFile})
  npx cordon get segments;  npx cordon flows --watch
  npx cordon trace --from 10.77.2.2 --to 10.77.1.2 --protocol tcp --port 22
  npx cordon credential issue temp-01 --key-out ${DIR}/temp-01.key --cert-out ${DIR}/temp-01.pem   # a device certificate from the demo's CA
  curl -s http://${HTTP}/metrics | grep cordon_;  curl -s http://${METRICS}/metrics | grep cordon_
  ip netns exec ${sensors.ns} ping ${broker.v4}
Logs: ${DIR}/*.log.  Device CA key sealed with ${KEK}.  Remove it all: npm run demo:down`);
  if (wrong) throw new Error(`${wrong} result(s) differ from the policy`);
}

main().catch((e) => {
  process.stderr.write(`demo: ${(e as Error).message}\n`);
  process.exit(1);
});
