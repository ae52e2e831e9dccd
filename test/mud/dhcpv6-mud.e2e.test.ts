// SPDX-License-Identifier: Apache-2.0
/**
 * The DHCPv6 option 112 path end to end (under the kernel lock), as
 * dhcp-mud.e2e.test.ts does for DHCPv4 option 161: a device in its namespace
 * sends a DHCPv6 REQUEST (RFC 8415: its DUID-LL, an IA_NA with the address it
 * asks for, its MUD URL as option 112) to ff02::1:2 on its link; the real
 * `cordon enforcer` (its DHCP tap on the gateway interface) reports it, the
 * real `cordon controller` fetches the file from a local HTTPS server
 * (test/mud/pki.ts) and lists the pending proposal in `cordon mud pending`.
 * Restarted with `--mud-dhcp off`, the enforcer reports none.
 */
import * as path from 'node:path';
import { runIn, site, Topology } from '../../scripts/topology';
import { TestSite, until } from '../support/site';
import { LIGHTBULB_MUD } from '../monitoring/fixtures';
import { makePki, mudServer, type MudPki } from './pki';

jest.setTimeout(180_000);

const topology: Topology = { prefix: 'i12v', net: 165, sites: [{ name: 'dev', index: 1 }] };
const dev = site(topology, 'dev');
const DEVICE = `mud-${dev.mac.replace(/:/g, '')}`;
const ASKED = `fd00:${topology.net}:1::50`;

/** A DHCPv6 REQUEST from the device's port 546 to All_DHCP_Relay_Agents_and_Servers on eth0, once a second for `count` seconds. */
const sender = (url: string, count: number) => `
  const d = require('node:dgram');
  const mac = ${JSON.stringify(dev.mac)}.split(':').map((h) => parseInt(h, 16));
  const opt = (code, v) => { const h = Buffer.alloc(4); h.writeUInt16BE(code, 0); h.writeUInt16BE(v.length, 2); return Buffer.concat([h, v]); };
  const ip = Buffer.alloc(16); ${JSON.stringify(ASKED)}.split('::')[0].split(':').forEach((g, i) => ip.writeUInt16BE(parseInt(g, 16), 2 * i)); ip.writeUInt16BE(0x50, 14);
  const iaaddr = opt(5, Buffer.concat([ip, Buffer.from([0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20])]));
  const iana = opt(3, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), iaaddr]));
  const msg = Buffer.concat([Buffer.from([3, 0xab, 0xcd, 0xef]), opt(1, Buffer.from([0, 3, 0, 1, ...mac])), iana, opt(112, Buffer.from(${JSON.stringify(url)}))]);
  const s = d.createSocket({ type: 'udp6', reuseAddr: true });
  s.bind(546, '::', async () => {
    for (let i = 0; i < ${count}; i++) { s.send(msg, 547, 'ff02::1:2%eth0'); await new Promise((r) => setTimeout(r, 1000)); }
    s.close();
  });`;

describe('MUD URL by DHCPv6 option 112, through a real enforcer and controller', () => {
  let pki: MudPki;
  let srv: Awaited<ReturnType<typeof mudServer>>;
  let s: TestSite;
  let body = Buffer.alloc(0);

  beforeAll(async () => {
    pki = makePki();
    srv = await mudServer(pki, ({ path: p }, res) => (p === '/lightbulb2000.json' ? res.end(body) : res.writeHead(404).end()));
    body = Buffer.from(JSON.stringify({ ...LIGHTBULB_MUD, 'ietf-mud:mud': { ...LIGHTBULB_MUD['ietf-mud:mud'], 'mud-url': `${srv.base}/lightbulb2000.json` } }));
    s = await TestSite.start({ topology, enforcer: 'gw-mud6', controllerArgs: ['--mud-ca', path.join(pki.dir, 'tls-ca.crt')] });
    const seg = { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'devs' }, spec: { cidrs: [dev.subnet4, dev.subnet6] } };
    await s.waitEnforced((await s.apply([seg])).generation);
  });
  afterAll(async () => {
    await s?.close();
    await srv?.close();
    pki?.cleanup();
  });

  it('a DHCPv6 REQUEST with option 112: the controller fetches the file and proposes it for the device (MAC from its DUID-LL, address from its IA_NA)', async () => {
    const url = `${srv.base}/lightbulb2000.json`;
    const sending = runIn(dev.ns, [process.execPath, '-e', sender(url, 5)], 20_000);
    let p: any;
    await until('the MUD proposal of the device', async () => {
      p = (await s.api('GET', '/v1/mud/pending')).body.items?.find((i: any) => i.device === DEVICE && i.status === 'pending');
      return !!p;
    }, 20_000);
    await sending;
    expect(p).toMatchObject({ url, mac: dev.mac, address: ASKED, source: 'dhcpv6', enforcer: 'gw-mud6' });
    expect(srv.hits.get('/lightbulb2000.json')).toBe(1);
    const pending = await s.cli(['mud', 'pending']);
    expect(pending.stdout).toMatch(new RegExp(`${DEVICE}\\s+pending\\s+${url.replace(/[.]/g, '\\.')}`));
  });

  it('an enforcer run with --mud-dhcp off reads no DHCP: the same kind of REQUEST is proposed nowhere', async () => {
    await s.enf!.stop();
    s.opts.enforcerArgs = ['--mud-dhcp', 'off'];
    await s.startEnforcer();
    const url = `${srv.base}/other.json`;
    await runIn(dev.ns, [process.execPath, '-e', sender(url, 4)], 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(srv.hits.get('/other.json')).toBeUndefined();
    expect((await s.api('GET', '/v1/mud/pending')).body.items.filter((i: any) => i.url === url)).toEqual([]);
    // the enforcer runs and enforces all the same
    expect(await s.enforcedGeneration()).toBe(await s.currentGeneration());
  });
});
