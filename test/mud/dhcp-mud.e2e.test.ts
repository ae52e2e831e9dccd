// SPDX-License-Identifier: Apache-2.0
/**
 * The DHCP option 161 path end to end (under the kernel lock): a device in
 * its namespace gets a lease from dnsmasq on the gateway with busybox udhcpc,
 * sending its MUD URL as option 161; the real `cordon enforcer` (its DHCP tap
 * on the gateway interface) reports it, the real `cordon controller` fetches
 * the file from a local HTTPS server (test/mud/pki.ts) and lists the proposal
 * in `cordon mud pending`; `cordon mud approve` applies it, and the file's
 * rules then decide the device's packets: NTP (UDP 123) to a server outside
 * every segment passes, UDP 125 stays dropped, and NTP was dropped before the
 * approval. The lease proves the DHCP server still got the packets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gatewayNs, runIn, site, spawnIn, Topology } from '../../scripts/topology';
import { TestSite, until } from '../support/site';
import { LIGHTBULB_MUD } from '../monitoring/fixtures';
import { makePki, mudServer, type MudPki } from './pki';

jest.setTimeout(180_000);

const topology: Topology = { prefix: 'i12m', net: 219, sites: [{ name: 'dev', index: 1 }, { name: 'srv', index: 2 }] };
const dev = site(topology, 'dev');
const srv2 = site(topology, 'srv');
const GW = gatewayNs(topology);
const DEVICE = `mud-${dev.mac.replace(/:/g, '')}`;

describe('MUD URL by DHCP option 161, through a real enforcer and controller', () => {
  let pki: MudPki;
  let srv: Awaited<ReturnType<typeof mudServer>>;
  let s: TestSite;
  let stopDnsmasq = () => {};
  let body = Buffer.alloc(0);

  beforeAll(async () => {
    pki = makePki();
    srv = await mudServer(pki, ({ path: p }, res) => (p === '/lightbulb2000.json' ? res.end(body) : res.writeHead(404).end()));
    body = Buffer.from(JSON.stringify({ ...LIGHTBULB_MUD, 'ietf-mud:mud': { ...LIGHTBULB_MUD['ietf-mud:mud'], 'mud-url': `${srv.base}/lightbulb2000.json` } }));
    s = await TestSite.start({ topology, enforcer: 'gw-mud', controllerArgs: ['--mud-ca', path.join(pki.dir, 'tls-ca.crt')] });
    const seg = { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'devs' }, spec: { cidrs: [dev.subnet4] } };
    const dhcp = { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'devs-dhcp' }, spec: { from: ['devs', 'world'], to: ['host'], allow: [{ protocol: 'udp', ports: ['67'] }] } };
    await s.waitEnforced((await s.apply([seg, dhcp])).generation);
    const child = spawnIn(GW, [
      'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--bind-dynamic', `--interface=${dev.gwIf}`, '--except-interface=lo', '--port=0',
      `--dhcp-range=10.${topology.net}.1.50,10.${topology.net}.1.60,255.255.255.0,2m`, '--pid-file=', `--dhcp-leasefile=${path.join(s.dir, 'leases')}`, '--user=root', '--log-facility=-',
    ]);
    let log = '';
    child.stderr!.on('data', (d) => (log += d));
    child.stdout!.on('data', (d) => (log += d));
    await until('dnsmasq to start', () => /started, version/.test(log) || child.exitCode !== null, 10_000);
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
    stopDnsmasq = () => child.kill('SIGTERM');
  });
  afterAll(async () => {
    stopDnsmasq();
    await s?.close();
    await srv?.close();
    pki?.cleanup();
  });

  /** UDP datagrams from the device that reach a server on `port` of the srv namespace. */
  const udpReceived = async (port: number, count = 20): Promise<number> => {
    const server = await s.serve('srv', port, 60);
    await s.udp('dev', srv2.v4, port, count);
    await new Promise((r) => setTimeout(r, 300));
    return (await server.stop()).udpDatagrams;
  };

  it('udhcpc sends option 161: the lease is granted, the controller fetches the file and proposes it; approve applies it and its rules judge the device\'s packets', async () => {
    const url = `${srv.base}/lightbulb2000.json`;
    await runIn(dev.ns, ['ip', '-4', 'addr', 'flush', 'dev', 'eth0']);
    const r = await runIn(dev.ns, ['busybox', 'udhcpc', '-B', '-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', '/bin/true', '-x', `0xa1:${Buffer.from(url).toString('hex')}`], 20_000);
    const leased = /lease of (\S+) obtained/.exec(r.stdout + r.stderr)?.[1];
    expect(leased).toMatch(new RegExp(`^10\\.${topology.net}\\.1\\.(5\\d|60)$`));
    // udhcpc ran with no script: the device takes its lease by hand.
    await runIn(dev.ns, ['ip', '-4', 'addr', 'add', `${leased}/24`, 'dev', 'eth0']);
    await runIn(dev.ns, ['ip', '-4', 'route', 'replace', 'default', 'via', dev.gw4]);
    expect(await udpReceived(123)).toBe(0); // no rule lets the devices segment out yet
    let p: any;
    await until('the MUD proposal of the device', async () => {
      p = (await s.api('GET', '/v1/mud/pending')).body.items?.find((i: any) => i.device === DEVICE && i.status === 'pending');
      return !!p;
    }, 20_000);
    expect(p).toMatchObject({ url, mac: dev.mac, address: leased, source: 'dhcpv4', enforcer: 'gw-mud' });
    expect(srv.hits.get('/lightbulb2000.json')).toBe(1);
    const pending = await s.cli(['mud', 'pending']);
    expect(pending.stdout).toMatch(new RegExp(`${DEVICE}\\s+pending\\s+${url.replace(/[.]/g, '\\.')}`));
    const a = await s.cli(['mud', 'approve', DEVICE]);
    expect(a.code).toBe(0);
    expect(a.stdout).toContain(`${DEVICE}: MUD proposal from ${url} applied`);
    expect(a.stdout).toContain(`Device/${DEVICE} created`);
    await s.waitEnforced(await s.currentGeneration());
    const d = (await s.api('GET', `/v1/devices/${DEVICE}`)).body;
    expect(d).toMatchObject({ metadata: { labels: { 'mud-type': 'lightbulb2000' } }, spec: { mac: dev.mac, addresses: [leased] } });
    expect(fs.existsSync(path.join(s.dir, 'leases'))).toBe(true);
    // The MUD file's from-device ACL allows UDP 123-124 anywhere, and nothing else there.
    expect(await udpReceived(123)).toBeGreaterThanOrEqual(18);
    expect(await udpReceived(125)).toBe(0);
  });
});
