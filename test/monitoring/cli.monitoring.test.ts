// SPDX-License-Identifier: Apache-2.0
/** The monitoring commands in-process (runCli) against a started controller. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { startTestController, type TestController } from '../api/harness';
import { LIGHTBULB_MUD } from './fixtures';

describe('cordon monitoring commands', () => {
  let t: TestController;
  let env: NodeJS.ProcessEnv;
  const cli = (...argv: string[]) => runCli(argv, { env });

  beforeAll(async () => {
    t = await startTestController('pglite');
    env = { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken };
    await t.call('POST', '/v1/apply', {
      documents: [
        { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] } },
        { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: ['10.10.9.0/24'] } },
        { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'sensors-to-broker' }, spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['8883'] }] } },
      ],
    });
    const bundle = (await t.call('GET', '/v1/bundles/current')).body;
    const ids = bundle.identities;
    const ruleId = bundle.rules.find((r: { policy: string }) => r.policy === 'sensors-to-broker').ruleId;
    await t.call('POST', '/v1/monitoring/flows', {
      enforcer: 'gw-1',
      flows: [
        { src: '10.10.1.50', dst: '10.10.9.5', dport: 8883, protocol: 6, srcIdentity: ids.sensors, dstIdentity: ids.broker, verdict: 'VERDICT_ALLOW', ruleId, packetsFwd: 3, bytesFwd: 300 },
        { src: '10.10.1.50', dst: '10.10.9.5', dport: 1883, protocol: 6, srcIdentity: ids.sensors, dstIdentity: ids.broker, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 2 },
      ],
    });
  });
  afterAll(async () => t?.close());

  it('get devices --unknown, then admit, then the ordinary get devices still works', async () => {
    const u = await cli('get', 'devices', '--unknown', '-o', 'json');
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout)).toEqual([expect.objectContaining({ address: '10.10.1.50', segment: 'sensors' })]);
    expect((await cli('get', 'devices', '--unknown')).stdout).toMatch(/^ADDRESS\s+MAC/);
    const bad = await cli('admit', '10.10.1.50', '--name', 'probe-50', '--label', 'novalue');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--label takes key=value');
    const a = await cli('admit', '10.10.1.50', '--name', 'probe-50', '--label', 'type=sensor', '--label', 'vendor=acme');
    expect(a).toMatchObject({ code: 0 });
    expect(a.stdout).toContain('+ Device/probe-50 created');
    const d = JSON.parse((await cli('get', 'devices', '-o', 'json')).stdout);
    expect(d).toEqual([expect.objectContaining({ metadata: { name: 'probe-50', labels: { type: 'sensor', vendor: 'acme' } } })]);
    expect(JSON.parse((await cli('get', 'devices', '--unknown', '-o', 'json')).stdout)).toEqual([]);
  });

  it('get anomalies, events, recommend, report unused', async () => {
    expect(JSON.parse((await cli('get', 'anomalies', '--device', 'probe-50', '-o', 'json')).stdout)).toEqual([]);
    const ev = await cli('events');
    expect(ev.code).toBe(0);
    const lines = ev.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event.action)).toEqual(expect.arrayContaining(['unknown-device-seen', 'apply']));
    const rec = await cli('recommend');
    expect(rec.code).toBe(0);
    expect(rec.stdout).toContain('kind: Policy');
    expect(rec.stdout).toContain('"8883"');
    expect(rec.stdout).not.toContain('1883');
    const recFile = path.join(t.dataDir, 'rec.yaml');
    fs.writeFileSync(recFile, rec.stdout);
    expect((await cli('apply', '-f', recFile, '--dry-run')).code).toBe(0);
    const un = await cli('report', 'unused', '--window', '1h', '-o', 'json');
    expect(JSON.parse(un.stdout).items).toEqual([]);
  });

  it('mud import: dry run by default, --apply stores; a malformed file names the ACE and field', async () => {
    const file = path.join(t.dataDir, 'bulb.json');
    fs.writeFileSync(file, JSON.stringify(LIGHTBULB_MUD));
    const dry = await cli('mud', 'import', file);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('kind: Segment');
    expect(dry.stdout).toContain('nothing was stored');
    const applied = await cli('mud', 'import', file, '--apply');
    expect(applied.stdout).toContain('applied: generation');
    const bad = JSON.parse(JSON.stringify(LIGHTBULB_MUD));
    bad['ietf-access-control-list:acls'].acl[1].aces.ace[0].matches.ipv4 = { dscp: 46, protocol: 6 };
    fs.writeFileSync(file, JSON.stringify(bad));
    const r = await cli('mud', 'import', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${file}: acl mud-76100-v4fr ace cl0-frdev: matches.ipv4.dscp`);
    expect(r.stderr).toContain('dscp matches are not supported');
  });
});
