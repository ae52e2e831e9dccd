// SPDX-License-Identifier: Apache-2.0
/**
 * The MUD manager against a started controller and a local HTTPS MUD server
 * (test/mud/pki.ts; nothing leaves the machine): announcements become
 * proposals (signed, tampered, unsigned), `cordon mud pending` and
 * `cordon mud approve` (through the apply, PolicyTests refusing), `mud: auto`
 * applying at once, cache-validity honoured, `cordon mud import URL`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { modelId } from '../../apps/controller/src/mud/mud-model';
import { startTestController, type TestController } from '../api/harness';
import { LIGHTBULB_MUD } from '../monitoring/fixtures';
import { makePki, mudServer, type MudPki } from './pki';
import { dhcpv4 } from './dhcp';
import { parseDhcpV4 } from '../../model/mud/announcement';
import { rpc } from '../../proto/cordon/v1/client';
import { enrollEnforcer } from '../integrity/enroll';
import { until } from '../support/wait';

const PLUG = fs.readFileSync(path.join(__dirname, 'fixtures/mudmaker-smartplug.json'), 'utf8');
const DOOR = fs.readFileSync(path.join(__dirname, 'fixtures/osmud-doorsensor.json'), 'utf8');

describe('MUD manager', () => {
  let pki: MudPki;
  let srv: Awaited<ReturnType<typeof mudServer>>;
  let t: TestController;
  let env: NodeJS.ProcessEnv;
  const files = new Map<string, Buffer>();
  const cli = (...argv: string[]) => runCli(argv, { env });
  const announce = (body: Record<string, unknown>) => t.call('POST', '/v1/mud/announce', { source: 'dhcpv4', ...body });

  beforeAll(async () => {
    pki = makePki();
    srv = await mudServer(pki, ({ path: p }, res) => {
      const f = files.get(p);
      if (f) return res.end(f);
      res.writeHead(404).end();
    });
    const b = srv.base;
    const plug = Buffer.from(PLUG.replace('https://iot.plugco.example/devices/smartplug-p110.json', `${b}/plug.json`).replace('https://iot.plugco.example/devices/smartplug-p110.p7s', `${b}/plug.p7s`));
    files.set('/plug.json', plug);
    files.set('/plug.p7s', pki.sign(plug));
    const tampered = Buffer.from(plug.toString().replace(/plug\.json/g, 'tampered.json').replace(/plug\.p7s/g, 'tampered.p7s'));
    files.set('/tampered.p7s', pki.sign(tampered));
    files.set('/tampered.json', Buffer.from(tampered.toString().replace('"port": 443', '"port": 8443')));
    files.set('/lightbulb2000.json', Buffer.from(JSON.stringify({ ...LIGHTBULB_MUD, 'ietf-mud:mud': { ...LIGHTBULB_MUD['ietf-mud:mud'], 'mud-url': `${b}/lightbulb2000.json` } })));
    files.set('/door.json', Buffer.from(DOOR.replace('https://sensors.doorco.example/mud/door-sensor-ds2.json', `${b}/door.json`)));
    fs.writeFileSync(path.join(pki.dir, 'anchors.pem'), pki.signerCa);
    t = await startTestController('pglite', undefined, {
      mudTrustAnchors: path.join(pki.dir, 'anchors.pem'),
      mudCa: path.join(pki.dir, 'tls-ca.crt'),
      mudFetchTimeout: '3s',
      mudController: ['my-controller=plug-controller'],
    });
    env = { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken };
    const seg = (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name, ...(labels ? { labels } : {}) }, spec });
    const r = await t.call('POST', '/v1/apply', {
      documents: [
        seg('lan', { cidrs: ['10.40.0.0/24'] }),
        seg('dns-servers', { cidrs: ['10.20.2.0/24'] }, { 'mud-controller': 'urn:ietf:params:mud:dns' }),
        seg('plug-controller', { cidrs: ['10.20.3.0/24'] }),
        seg('iot-auto', { cidrs: ['10.30.0.0/24'], mud: 'auto' }),
        seg('lamp-hubs', { cidrs: ['10.20.4.0/24'] }, { 'mud-manufacturer': 'hub.lampco.example' }),
        seg('energy-hubs', { cidrs: ['10.20.5.0/24'] }, { 'mud-model': modelId('https://iot.plugco.example/devices/energy-hub-h200.json') }),
        { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'bulb-1' }, spec: { mac: '02:00:00:00:00:31', addresses: ['10.40.0.31'] } },
      ],
    });
    expect(r.status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await srv?.close();
    pki?.cleanup();
  });

  it('a signed MUD file becomes a pending proposal for the announcing device; cordon mud pending lists it', async () => {
    const r = await announce({ url: `${srv.base}/plug.json`, mac: '02:00:00:00:00:11', address: '10.40.0.11' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ device: 'mud-020000000011', status: 'pending', signedBy: 'CN=mud-signer', error: null, source: 'dhcpv4' });
    const kinds = r.body.documents.map((d: any) => `${d.kind}/${d.metadata.name}`);
    expect(kinds).toContain('Policy/plug-to-n-euw1-device-api-plugcloud-ex');
    expect(kinds).toContain('Policy/plug-to-ctl-plug-controller');
    expect(kinds[kinds.length - 1]).toBe('Device/mud-020000000011');
    expect(r.body.documents[kinds.length - 1]).toMatchObject({ metadata: { labels: { 'mud-type': 'plug' } }, spec: { mac: '02:00:00:00:00:11', addresses: ['10.40.0.11'] } });
    const fqdn = r.body.documents.find((d: any) => d.metadata.name === 'plug-to-n-euw1-device-api-plugcloud-ex');
    expect(fqdn.spec.to).toEqual([{ fqdn: 'n-euw1-device-api.plugcloud.example' }]);
    const p = await cli('mud', 'pending');
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/^DEVICE\s+STATUS\s+MUD URL/);
    expect(p.stdout).toMatch(/mud-020000000011\s+pending\s+https:\/\/127\.0\.0\.1:\d+\/plug\.json\s+CN=mud-signer/);
    // Approving goes through the apply: the plug's fqdn documents apply.
    const a = await cli('mud', 'approve', 'mud-020000000011');
    expect(a.code).toBe(0);
    expect((await cli('mud', 'pending', '--all')).stdout).toMatch(/mud-020000000011\s+applied/);
  });

  it('a tampered file, plain http and an unknown device without address: refused, with the reason', async () => {
    const r = await announce({ url: `${srv.base}/tampered.json`, mac: '02:00:00:00:00:12', address: '10.40.0.12' });
    expect(r.body).toMatchObject({ device: 'mud-020000000012', status: 'failed', documents: [] });
    expect(r.body.error).toContain('the file does not match its signature (messageDigest differs)');
    expect((await cli('mud', 'pending')).stdout).toMatch(/mud-020000000012\s+failed.*messageDigest differs/);
    expect(await cli('mud', 'approve', 'mud-020000000012')).toMatchObject({ code: 3, stderr: expect.stringContaining('failed, nothing to approve') });
    expect((await announce({ url: `http://127.0.0.1:1/x.json`, mac: '02:00:00:00:00:13' })).status).toBe(400);
    const noAddr = await announce({ url: `${srv.base}/lightbulb2000.json`, mac: '02:00:00:00:00:14' });
    expect(noAddr.body).toMatchObject({ status: 'failed', error: expect.stringContaining('its address is not known yet') });
    // Only the devices approved before (bulb-1 and the plug): none for the refused ones.
    expect((await t.call('GET', '/v1/devices')).body.items.map((d: any) => d.metadata.name)).toEqual(['bulb-1', 'mud-020000000011']);
  });

  it('approve applies through the apply: a failing PolicyTest refuses it, then it applies; mud: auto applies at once; cache-validity is honoured', async () => {
    const before = srv.hits.get('/lightbulb2000.json') ?? 0;
    const r = await announce({ url: `${srv.base}/lightbulb2000.json`, mac: '02:00:00:00:00:31', address: '10.40.0.31', source: 'dhcpv6' });
    expect(r.body).toMatchObject({ device: 'bulb-1', status: 'pending', signedBy: null });
    // the file was fetched once for both bulb announcements (the earlier one failed for want of an address, after the fetch)
    expect(srv.hits.get('/lightbulb2000.json')).toBe(before);
    expect(Date.parse(r.body.validUntil) - Date.parse(r.body.fetchedAt)).toBe(48 * 3600_000);
    await t.call('POST', '/v1/apply', { documents: [{ apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name: 'bulb-stays-local' }, spec: [{ from: 'bulb-1', to: '198.51.100.7', protocol: 'tcp', port: 443, expect: 'deny' }] }] });
    const refused = await cli('mud', 'approve', 'bulb-1');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('bulb-stays-local');
    expect((await t.call('GET', '/v1/devices/bulb-1')).body.metadata.labels ?? {}).toEqual({});
    expect((await t.call('DELETE', '/v1/policytests/bulb-stays-local')).status).toBe(200);
    const ok = await cli('mud', 'approve', 'bulb-1');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('bulb-1: MUD proposal from');
    expect((await t.call('GET', '/v1/devices/bulb-1')).body.metadata.labels).toEqual({ 'mud-type': 'lightbulb2000' });
    expect((await t.call('POST', '/v1/trace', { from: 'bulb-1', to: '198.51.100.7', protocol: 'tcp', port: 443 })).body).toMatchObject({ verdict: 'allow', policy: 'lightbulb2000-to-peer-1' });
    // A DHCP renewal announces again, its MAC in another spelling: the same Device, and what was applied stays applied.
    const renewal = await announce({ url: `${srv.base}/lightbulb2000.json`, mac: '02-00-00-00-00-31', address: '10.40.0.31', source: 'dhcpv6' });
    expect(renewal.body).toMatchObject({ device: 'bulb-1', status: 'applied' });
    expect((await cli('mud', 'pending')).stdout).not.toContain('bulb-1');

    // A device in a Segment that says mud: auto: applied without review.
    const auto = await announce({ url: `${srv.base}/lightbulb2000.json`, mac: '02:00:00:00:00:41', address: '10.30.0.41' });
    expect(auto.body).toMatchObject({ device: 'mud-020000000041', status: 'applied' });
    expect((await t.call('GET', '/v1/devices/mud-020000000041')).body).toMatchObject({ metadata: { labels: { 'mud-type': 'lightbulb2000' } }, spec: { mac: '02:00:00:00:00:41', addresses: ['10.30.0.41'] } });
    expect(srv.hits.get('/lightbulb2000.json')).toBe(before);
    expect((await cli('mud', 'pending')).stdout).not.toContain('mud-020000000041');
    expect((await cli('mud', 'pending', '--all')).stdout).toMatch(/mud-020000000041\s+applied/);

    // Past its cache-validity the file is fetched again.
    await t.ctl.store.sql.query("update mud_proposals set valid_until = now() - interval '1 second' where url like '%/lightbulb2000.json'");
    await announce({ url: `${srv.base}/lightbulb2000.json`, mac: '02:00:00:00:00:42', address: '10.40.0.42' });
    expect(srv.hits.get('/lightbulb2000.json')).toBe(before + 1);
  });

  it('cordon mud import URL: fetched by the controller over https; a missing abstraction mapping is named', async () => {
    const r = await cli('mud', 'import', `${srv.base}/door.json`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fqdn: mqtt.doorco-cloud.example');
    const plug = await cli('mud', 'import', `${srv.base}/plug.json`, '-o', 'json', '--controller', 'my-controller=lan');
    expect(plug.code).toBe(0);
    expect(JSON.parse(plug.stdout)).toMatchObject({ signedBy: 'CN=mud-signer' });
    const bad = await cli('mud', 'import', `${srv.base}/plug.json`, '--controller', 'nonsense');
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.stderr).toContain('--controller nonsense: expected URI=SEGMENT');
    const http = await cli('mud', 'import', 'http://127.0.0.1:1/x.json');
    expect(http).toMatchObject({ code: 2 });
    expect(http.stderr).toContain('fetched over https only');
    const gone = await cli('mud', 'import', `${srv.base}/nope.json`);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain('HTTP 404');
  });

  it('an enforcer reports a DHCPv4 option 161 over the control channel (ReportMud): the manager proposes; bad reports are refused', async () => {
    const e = await enrollEnforcer(t.ctl, t.adminToken, 'gw-mud');
    const c = e.client();
    try {
      const seen = parseDhcpV4(dhcpv4({ type: 3, mac: '02:00:00:00:00:51', url: `${srv.base}/lightbulb2000.json`, requested: '10.40.0.51' }))!;
      const report = { enforcer: 'gw-mud', url: seen.url, mac: seen.mac!, address: seen.address!, source: 'dhcpv4', interface: 'veth-dev' };
      expect(await rpc.reportMud(c, report)).toMatchObject({ receivedAt: expect.any(Number) });
      // a DHCP renewal a moment later is accepted too (the manager takes a device and URL once a minute)
      await rpc.reportMud(c, report);
      const p = await until('the proposal for mud-020000000051', async () => (await t.call('GET', '/v1/mud/pending')).body.items.find((i: any) => i.device === 'mud-020000000051'), 15_000);
      expect(p).toMatchObject({ status: 'pending', source: 'dhcpv4', enforcer: 'gw-mud', mac: '02:00:00:00:00:51', address: '10.40.0.51' });
      await expect(rpc.reportMud(c, { ...report, enforcer: 'gw-other' })).rejects.toMatchObject({ details: expect.stringContaining('does not match the certificate') });
      await expect(rpc.reportMud(c, { ...report, url: 'http://127.0.0.1:1/x.json' })).rejects.toMatchObject({ details: 'url: must be an https URL of at most 255 characters' });
      await expect(rpc.reportMud(c, { ...report, mac: '', address: '' })).rejects.toMatchObject({ details: 'an announcement names the device by mac or address' });
      await expect(rpc.reportMud(c, { ...report, address: 'nope' })).rejects.toMatchObject({ details: 'address: nope is not an IP address' });
    } finally {
      c.close();
    }
  });
});
