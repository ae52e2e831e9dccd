// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous verification end to end, with packets: `cordon controller` and
 * `cordon enforcer --netns` as processes (test/support/site.ts), a gateway
 * namespace between a camera, an unclaimed host, a server and an update server.
 *
 *   - the unclaimed host (an address in a segment CIDR, no Device) shows in
 *     `cordon get devices --unknown` with its enforcer, interface, MAC and what
 *     it tried; `cordon admit` makes it a Device whose traffic still passes;
 *   - the camera's firmware falls below a PostureRule: it is quarantined on the
 *     enforcer (its flow to the server is dropped, its remediation flow to the
 *     update server passes) within a measured bound; fixing the firmware
 *     releases it; every move is in the audit log, and the chain verifies.
 *
 * Needs root, bpffs and the built addon (npm run build:bpf build:native).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { gatewayNs, type Topology } from '../../scripts/topology';
import { TestSite, until } from '../support/site';

const PROBE = path.join(__dirname, 'probe-agent.js');
const topology: Topology = {
  prefix: 'cmd',
  net: 236,
  sites: [
    { name: 'cam', index: 1 },
    { name: 'stray', index: 2 },
    { name: 'server', index: 3 },
    { name: 'updates', index: 4 },
  ],
};
/** Target of the issue: from a failing posture to packets dropped on the enforcer. */
const POSTURE_TARGET_MS = 1000;

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('monitoring e2e: discovery, posture and quarantine with packets (root)', () => {
  let s: TestSite;
  const A = (n: string) => s.addr(n);
  const camera = (firmware: string) => ({
    apiVersion: 'cordon/v1',
    kind: 'Device',
    metadata: { name: 'cam-1', labels: { type: 'camera' } },
    spec: { addresses: [A('cam').v4], mac: A('cam').mac, firmware },
  });
  const siteDocs = () => [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'cameras' }, spec: { cidrs: [A('cam').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'lan' }, spec: { cidrs: [A('stray').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [A('server').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'update-server' }, spec: { cidrs: [A('updates').subnet4] } },
    camera('4.2.1'),
    { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'cameras-to-servers' }, spec: { from: ['cameras'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } },
    { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'lan-to-servers' }, spec: { from: ['lan'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } },
    { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'quarantine-to-updates' }, spec: { from: ['quarantine'], to: ['update-server'], allow: [{ protocol: 'tcp', ports: ['7443'] }] } },
    { apiVersion: 'cordon/v1', kind: 'PostureRule', metadata: { name: 'camera-firmware' }, spec: { selector: { type: 'camera' }, require: { firmware: '>=4.2.0' }, onFailure: 'quarantine' } },
  ];
  const quarantined = async () => ((await s.api('GET', '/v1/quarantine')).body.items as { device: string; actor: string; reason: string }[]) ?? [];

  beforeAll(async () => {
    s = await TestSite.start({ topology, enforcer: 'gw-mon-dp', controllerEnv: { CORDON_MONITORING_TICK: '250ms' } });
    const { generation } = await s.apply(siteDocs());
    await s.waitEnforced(generation);
    await s.serve('server', 7000);
    await s.serve('server', 7001);
    await s.serve('updates', 7443);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
  }, 60_000);

  test('mon_e2e_1_an_unknown_source_is_listed_with_what_it_tried_and_admitted_into_a_device', async () => {
    const stray = A('stray');
    type Unknown = { address: string; mac: string | null; interface: string | null; enforcer: string; segment: string; tried: string[] };
    expect(await s.connect('stray', A('server').v4, 7000)).toBe(true);
    // Allowed flows only so far: the enforcer takes the MAC from the gateway's neighbour table, the name from its interface.
    const allowedOnly = await until(
      'the stray host listed with its MAC and interface from its allowed flow alone',
      async () => (JSON.parse((await s.cli(['get', 'devices', '--unknown', '--output', 'json'])).stdout) as Unknown[]).find((d) => d.address === stray.v4 && d.mac),
      20_000,
      300,
    );
    expect(allowedOnly).toMatchObject({ mac: stray.mac, interface: stray.gwIf, tried: [`${A('server').v4}:7000/tcp allow`] });
    expect(await s.connect('stray', A('server').v4, 7001, 300)).toBe(false); // denied: a drop event, which carries the MAC too

    const u = await until(
      'the stray host in cordon get devices --unknown, with MAC and both attempts',
      async () => {
        const r = await s.cli(['get', 'devices', '--unknown', '--output', 'json']);
        if (r.code !== 0) throw new Error(`get devices --unknown failed (${r.code}): ${r.stderr}`);
        const x = (JSON.parse(r.stdout) as Unknown[]).find((d) => d.address === stray.v4);
        return x && x.mac && x.tried.length >= 2 ? x : undefined;
      },
      20_000,
      300,
    );
    expect(u).toMatchObject({
      address: stray.v4,
      mac: stray.mac,
      enforcer: 'gw-mon-dp',
      segment: 'lan',
      interface: stray.gwIf, // the enforcer resolves the ifindex to the gateway's interface name
      tried: expect.arrayContaining([`${A('server').v4}:7000/tcp allow`, `${A('server').v4}:7001/tcp deny`]),
    });
    // Only the unclaimed source is unknown: the camera is a Device, the server only answered.
    const all = JSON.parse((await s.cli(['get', 'devices', '--unknown', '--output', 'json'])).stdout) as Unknown[];
    expect(all.map((d) => d.address)).toEqual([stray.v4]);
    const ev = (await s.api('GET', '/v1/events?type=unknown_device')).body.items;
    expect(ev).toContainEqual(expect.objectContaining({ type: 'unknown_device', source: expect.objectContaining({ ip: stray.v4 }) }));

    const a = await s.cli(['admit', stray.v4, '--name', 'stray-1', '--label', 'type=sensor', '--label', 'vendor=acme']);
    expect({ code: a.code, stderr: a.stderr }).toEqual({ code: 0, stderr: '' });
    expect(a.stdout).toContain('Device/stray-1 created');
    const dev = (await s.api('GET', '/v1/devices/stray-1')).body;
    expect(dev).toMatchObject({ metadata: { name: 'stray-1', labels: { type: 'sensor', vendor: 'acme' } }, spec: { addresses: [stray.v4], mac: stray.mac } });
    expect(JSON.parse((await s.cli(['get', 'devices', '--unknown', '--output', 'json'])).stdout)).toEqual([]);
    // The admitted device is bound to the MAC it was seen with, so its traffic keeps passing.
    await s.waitEnforced(await s.currentGeneration());
    expect(await s.connect('stray', A('server').v4, 7000)).toBe(true);
    // ...and is no longer listed as unknown after it talks again.
    await new Promise((r) => setTimeout(r, 1000));
    expect(JSON.parse((await s.cli(['get', 'devices', '--unknown', '--output', 'json'])).stdout)).toEqual([]);

    // A source outside every segment (world): a second address on the same host, routed by the gateway.
    const outside = `10.${topology.net}.200.2`;
    execFileSync('ip', ['netns', 'exec', stray.ns, 'ip', 'addr', 'add', `${outside}/32`, 'dev', 'eth0']);
    execFileSync('ip', ['netns', 'exec', gatewayNs(topology), 'ip', 'route', 'add', `${outside}/32`, 'dev', stray.gwIf]);
    const w = await s.runIn('stray', ['env', `PROBE_FROM=${outside}`, 'node', PROBE, 'scan', A('server').v4, '7000', '7000', '300']);
    expect(JSON.parse(w.stdout.trim())).toEqual({ attempted: 1, ok: 0 }); // no policy from world
    const wu = await until(
      'the world source in cordon get devices --unknown',
      async () => (JSON.parse((await s.cli(['get', 'devices', '--unknown', '--output', 'json'])).stdout) as Unknown[]).find((d) => d.address === outside && d.mac),
      20_000,
      300,
    );
    expect(wu).toMatchObject({ address: outside, segment: 'world', mac: stray.mac, enforcer: 'gw-mon-dp', tried: [`${A('server').v4}:7000/tcp deny`] });
  }, 90_000);

  test('mon_e2e_2_failing_posture_quarantines_with_packets_within_a_bound_and_compliance_releases', async () => {
    const server = A('server').v4;
    expect(await s.connect('cam', server, 7000)).toBe(true);
    expect(await s.connect('cam', A('updates').v4, 7443, 400)).toBe(false); // only quarantine may reach the update server

    // A probe from the camera to its usual peer, every 20 ms, each attempt timing out at 150 ms.
    const probe = s.spawnIn('cam', ['node', PROBE, 'probe', server, '7000', '20', '1500', '150']);
    let out = '';
    probe.stdout!.on('data', (d) => (out += d));
    const results = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: number; ok: boolean });
    await until('the probe to pass a few times', () => results().filter((r) => r.ok).length >= 5, 10_000);

    const genBefore = await s.currentGeneration();
    const t0 = Date.now();
    const down = await s.apply([camera('4.1.0')]);
    const q = await until('cam-1 in quarantine', async () => (await quarantined()).find((x) => x.device === 'cam-1'), 10_000, 20);
    expect(q).toMatchObject({ actor: 'posture', reason: expect.stringContaining('camera-firmware requires firmware >=4.2.0, is 4.1.0') });
    const qGen = await s.currentGeneration();
    expect(qGen).toBeGreaterThan(down.generation);
    await s.waitEnforced(qGen, 5000);
    const tEnforced = Date.now();
    // The first probe attempt started after the apply that failed, with every later one failing too.
    const firstDrop = await until(
      'the probe to fail',
      () => {
        const r = results().filter((x) => x.t >= t0);
        const i = r.findIndex((x, k) => !x.ok && r.slice(k).every((y) => !y.ok) && r.length - k >= 3);
        return i >= 0 ? r[i] : undefined;
      },
      10_000,
    );
    const postureToDropMs = firstDrop.t - t0;
    probe.kill('SIGKILL');
    process.stderr.write(
      `posture -> drop: ${postureToDropMs} ms from the apply of the failing firmware to the first dropped probe ` +
        `(generation ${genBefore} -> ${down.generation} applied -> ${qGen} quarantine, enforced ${tEnforced - t0} ms after the apply, at the latest)\n`,
    );
    expect(postureToDropMs).toBeGreaterThanOrEqual(0);
    expect(postureToDropMs).toBeLessThan(POSTURE_TARGET_MS);
    const lat = (await s.api('GET', '/v1/posture')).body.quarantineLatencies as { device: string; ms: number }[];
    expect(lat.find((l) => l.device === 'cam-1')?.ms).toBeLessThan(POSTURE_TARGET_MS);

    // Quarantined: the usual flow is dropped, the remediation flow passes.
    expect(await s.connect('cam', server, 7000, 400)).toBe(false);
    expect(await s.connect('cam', A('updates').v4, 7443)).toBe(true);
    // The other device is not affected.
    expect(await s.connect('stray', server, 7000)).toBe(true);

    // Firmware fixed: released, and its flow passes again.
    const t1 = Date.now();
    await s.apply([camera('4.2.1')]);
    await until('cam-1 released', async () => !(await quarantined()).some((x) => x.device === 'cam-1'), 10_000, 20);
    await s.waitEnforced(await s.currentGeneration(), 5000);
    await until('cam-1 reaching the server again', () => s.connect('cam', server, 7000, 400), 5000, 0);
    process.stderr.write(`compliance -> release: ${Date.now() - t1} ms until the camera's flow passed again\n`);
    expect(await s.connect('cam', A('updates').v4, 7443, 400)).toBe(false);

    // Every move is audited, by whom, and the chain verifies.
    const audit = await s.api('GET', '/v1/audit/export');
    const entries = String(audit.body).trim().split('\n').map((l) => JSON.parse(l) as { action: string; actor: string; target?: string });
    const moves = entries.filter((e) => e.target === 'Device/cam-1' && e.action.startsWith('quarantine.'));
    expect(moves.map((e) => [e.action, e.actor])).toEqual([
      ['quarantine.add', 'posture'],
      ['quarantine.release', 'posture'],
    ]);
    const v = await s.cli(['audit', 'verify']);
    expect(v.code).toBe(0);
    // ...and in the security event stream.
    const ev = (await s.api('GET', '/v1/events?device=cam-1')).body.items as { action: string }[];
    expect(ev.map((e) => e.action)).toEqual(expect.arrayContaining(['posture-failed', 'quarantine-add', 'posture-compliant', 'quarantine-release']));
  }, 90_000);
});
