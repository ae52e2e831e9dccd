// SPDX-License-Identifier: Apache-2.0
/**
 * A burst of 100,000 distinct answered addresses through the real enforcer's
 * DNS proxy, with the default caps (--fqdn-max-addresses 50,000,
 * --fqdn-max-per-name 64): a synthetic DNS server in the world namespace
 * (test/support/dns-synth-server.js) answers each of 5,000 names with 20
 * addresses of its own. The pinned map stays within the cap, the evictions are
 * counted, the enforcer's memory stays bounded, and a name resolved after the
 * burst is allowed on its first SYN. Names: fqdn_burst_number_scenario.
 *
 * Run under the kernel lock: flock /tmp/cordon-kernel.lock npx jest test/fqdn/fqdn-burst
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { down, gatewayNs, site, spawnIn, Topology, up } from '../../scripts/topology';
import { FqdnGateway, synthDns } from '../support/fqdn-gateway';

const ROOT = path.resolve(__dirname, '..', '..');
const T: Topology = { prefix: 'cfbu', net: 163, sites: [{ name: 'plugs', index: 1 }, { name: 'world', index: 2 }] };
const PLUGS = site(T, 'plugs');
const WORLD = site(T, 'world');
const NAMES = 5000;
const PER_ANSWER = 20;
const CAP = 50_000; // FQDN_DEFAULTS.maxAddresses
const LEGIT = '10.163.2.10';

const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.163.1.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: resolvers }
spec: { cidrs: [${WORLD.v4}/32] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-dns }
spec: { from: [plugs], to: [resolvers], allow: [ { protocol: udp, ports: ["53"] } ] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-burst }
spec: { from: [plugs], to: [ { fqdn: "*.burst.test" } ], allow: [ { protocol: tcp, ports: ["443"] } ] }
`;

let work: string;
let gw: FqdnGateway;
let dns: ChildProcess | null = null;
let server: ChildProcess | null = null;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('namespace tests need root');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-fqdn-burst-'));
  up(T);
  execFileSync('ip', ['netns', 'exec', WORLD.ns, 'ip', 'addr', 'add', `${LEGIT}/32`, 'dev', 'eth0']);
  dns = await synthDns(WORLD.ns, WORLD.v4, PER_ANSWER, 300, [`legit.burst.test=${LEGIT}`]);
  server = spawnIn(WORLD.ns, [process.execPath, path.join(ROOT, 'test', 'support', 'traffic-agent.js'), 'serve', '443', '300']);
  gw = new FqdnGateway({ gatewayNs: gatewayNs(T), deviceNs: PLUGS.ns, deviceIf: PLUGS.gwIf, proxy4: PLUGS.gw4, resolver: WORLD.v4, datapathName: 'fqdn-burst', metrics: '127.0.0.1:17494', work, site: SITE });
  await gw.start();
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  dns?.kill('SIGTERM');
  server?.kill('SIGTERM');
  down(T);
  fs.rmSync(work, { recursive: true, force: true });
});

afterEach(() => {
  const st = expect.getState();
  if (st.assertionCalls !== st.numPassingAsserts) process.stderr.write(`enforcer log:\n${gw.log.slice(-20_000)}\n`);
});

test('fqdn_burst_1_100000_distinct_answered_addresses_stay_within_the_default_caps_and_a_later_name_is_allowed_on_first_syn', async () => {
  const rssBefore = gw.rssBytes();
  const started = Date.now();
  const names = Array.from({ length: NAMES }, (_, i) => `n${i}.burst.test`);
  const r = await gw.device({ mode: 'burst', resolver: WORLD.v4, names, type: 'A', concurrency: 64, timeoutMs: 3000 }, 90_000);
  const seconds = (Date.now() - started) / 1000;
  expect(r.answered).toBeGreaterThan(NAMES * 0.99);
  const answered = r.answered * PER_ANSWER;
  const held = await gw.metric('cordon_fqdn_addresses');
  const evicted = await gw.metric('cordon_fqdn_evictions_total');
  const pinned = gw.pinnedEntries();
  const rssAfter = gw.rssBytes();
  process.stderr.write(
    `burst: ${answered} distinct addresses in ${r.answered} answers in ${seconds.toFixed(1)} s (${Math.round(answered / seconds)}/s); ` +
      `held ${held}, pinned ${pinned}, evicted ${evicted}; enforcer RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after\n`,
  );
  expect(answered).toBeGreaterThanOrEqual(99_000);
  expect(held).toBeLessThanOrEqual(CAP);
  expect(pinned).toBeLessThanOrEqual(CAP);
  expect(pinned).toBe(held);
  // every address past the cap pushed an older one out, and was counted
  expect(evicted).toBeGreaterThanOrEqual(answered - CAP);
  // bounded: 50,000 names' worth of state, not 100,000 (the enforcer starts near 150 MiB)
  expect(rssAfter).toBeLessThan(rssBefore + 200 * 2 ** 20);
  expect(rssAfter).toBeLessThan(512 * 2 ** 20);

  // a legitimate name after the burst: learned and allowed on its first SYN
  const legit = await gw.device({ mode: 'resolve-connect', resolver: WORLD.v4, names: ['legit.burst.test'], type: 'A', port: 443 });
  expect(legit.results).toEqual([{ name: 'legit.burst.test', address: LEGIT, ok: true }]);
}, 150_000);
