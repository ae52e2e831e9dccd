// SPDX-License-Identifier: Apache-2.0
/**
 * Least privilege end to end, checked with packets: a site onboarded in audit
 * mode (Segments with mode: audit, no Policy) carries its traffic while the
 * controller observes it; `cordon recommend` turns the observation into
 * Policy documents; applied back with `cordon apply` and the segments switched
 * to enforce, exactly the observed flows pass through the gateway and their
 * neighbours (the next port, the other direction) are dropped.
 * Also `cordon mud import` on bad files, as a process: non-zero exit, naming
 * the file, ACE and field.
 *
 * Needs root, bpffs and the built addon.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Topology } from '../../scripts/topology';
import { LIGHTBULB_MUD } from '../monitoring/fixtures';
import { TestSite, until } from '../support/site';

const topology: Topology = { prefix: 'cmr', net: 238, sites: [{ name: 'client', index: 1 }, { name: 'server', index: 2 }] };

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('monitoring e2e: recommend from audit-mode observation, checked with packets (root)', () => {
  let s: TestSite;
  const A = (n: string) => s.addr(n);
  const segments = (mode: 'audit' | 'enforce') => [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'clients' }, spec: { cidrs: [A('client').subnet4], mode } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: [A('server').subnet4], mode } },
  ];

  beforeAll(async () => {
    s = await TestSite.start({ topology, enforcer: 'gw-mon-rec' });
    const { generation } = await s.apply(segments('audit'));
    await s.waitEnforced(generation);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
  }, 60_000);

  test('mon_e2e_5_recommend_applied_back_allows_exactly_the_observed_flows', async () => {
    const client = A('client').v4;
    const server = A('server').v4;
    const servers = await Promise.all([s.serve('server', 7000), s.serve('server', 7001), s.serve('server', 7002), s.serve('server', 7003), s.serve('client', 7000)]);

    // Audit mode: nothing is dropped, everything is reported (verdict audit).
    for (let i = 0; i < 3; i++) expect(await s.connect('client', server, 7000)).toBe(true);
    expect(await s.udp('client', server, 7002, 20)).toBe(20);
    await until('audited flows at the controller', async () => {
      const r = (await s.api('GET', '/v1/recommend')).body;
      return r.flows >= 2 ? r : undefined;
    }, 15_000, 300);

    const rec = await s.cli(['recommend', '--output', 'json']);
    expect(rec.code).toBe(0);
    const r = JSON.parse(rec.stdout);
    // Exactly the two observed tuples, in one policy from clients to servers.
    expect(r.flows).toBe(2);
    expect(r.documents).toEqual([
      expect.objectContaining({
        kind: 'Policy',
        spec: expect.objectContaining({
          from: ['clients'],
          to: ['servers'],
          allow: [
            { protocol: 'tcp', ports: ['7000'] },
            { protocol: 'udp', ports: ['7002'] },
          ],
        }),
      }),
    ]);

    // The YAML, applied back as a user would: dry run first, then for real, then enforce.
    const yamlOut = await s.cli(['recommend']);
    expect(yamlOut.code).toBe(0);
    const file = path.join(s.dir, 'recommended.yaml');
    fs.writeFileSync(file, yamlOut.stdout);
    const dry = await s.cli(['apply', '-f', file, '--dry-run']);
    expect({ code: dry.code, stderr: dry.stderr }).toEqual({ code: 0, stderr: '' });
    const applied = await s.cli(['apply', '-f', file, '--output', 'json']);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    const { generation } = await s.apply(segments('enforce'));
    await s.waitEnforced(generation);

    // With packets: the observed flows pass...
    expect(await s.connect('client', server, 7000)).toBe(true);
    // Fresh UDP counters for the two UDP ports.
    await Promise.all([servers[2].stop(), servers[3].stop()]);
    const u2 = await s.serve('server', 7002);
    const u3 = await s.serve('server', 7003);
    expect(await s.udp('client', server, 7002, 20)).toBe(20);
    // ...and nothing more: the neighbouring ports, and the reverse direction, are dropped.
    expect(await s.connect('client', server, 7001, 400)).toBe(false);
    expect(await s.udp('client', server, 7003, 20)).toBe(20);
    expect(await s.connect('server', client, 7000, 400)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    const [got2, got3] = await Promise.all([u2.stop(), u3.stop()]);
    expect(got2.udpDatagrams).toBe(20);
    expect(got3.udpDatagrams).toBe(0);
    const [got7001, gotReverse] = await Promise.all([servers[1].stop(), servers[4].stop()]);
    expect(got7001.tcpConnections).toBe(0);
    expect(gotReverse.tcpConnections).toBe(0);

    // The controller's own trace agrees.
    const trace = await s.cli(['trace', '--from', client, '--to', server, '--protocol', 'tcp', '--port', '7001', '--output', 'json']);
    expect(JSON.parse(trace.stdout)).toMatchObject({ verdict: 'deny', policy: null });
  }, 120_000);

  test('mon_e2e_6_mud_import_of_bad_files_fails_naming_the_ace_and_field', async () => {
    const bad = JSON.parse(JSON.stringify(LIGHTBULB_MUD));
    bad['ietf-access-control-list:acls'].acl[0].aces.ace[1].matches.udp = { 'destination-port': { operator: 'eq', port: 70000 } };
    const file = path.join(s.dir, 'bulb-bad.json');
    fs.writeFileSync(file, JSON.stringify(bad));
    const r = await s.cli(['mud', 'import', file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('acl mud-76100-v4to ace mgmt-todev');
    expect(r.stderr).toMatch(/destination-port\.port/);
    expect(r.stderr).toContain('0-65535');
    const notJson = path.join(s.dir, 'bulb.txt');
    fs.writeFileSync(notJson, '{ "ietf-mud:mud": ');
    const nj = await s.cli(['mud', 'import', notJson]);
    expect(nj.code).toBe(3);
    expect(nj.stderr).toContain(`${notJson}: not JSON`);
    // Nothing was stored by either.
    expect(JSON.parse((await s.cli(['get', 'segments', '--output', 'json'])).stdout).map((d: { metadata: { name: string } }) => d.metadata.name).sort()).toEqual(['clients', 'servers']);
  }, 60_000);
});
