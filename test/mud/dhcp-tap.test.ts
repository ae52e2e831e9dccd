// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer's DHCP tap with packets (run under the kernel lock): a device
 * in its own network namespace sends DHCPv4 DISCOVER/REQUEST and a DHCPv6
 * SOLICIT carrying its MUD URL (crafted here, sent with node:dgram from the
 * device namespace) over a veth to a gateway namespace; the tap there
 * (native/src/dhcp_tap.cc, opened by --netns path) sees copies, the watcher
 * reports each device and URL once. A UDP socket bound to 67 in the gateway
 * still receives every packet: the tap takes nothing from the DHCP server.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import pino from 'pino';
import { binding } from '../../native/lib/binding';
import { MudDhcpWatcher, type MudReport } from '../../apps/enforcer/src/mud-dhcp';
import { dhcpv4 } from './dhcp';
import { until } from '../support/wait';

const ID = `${process.pid % 100000}`;
const DEV = `i12m-d${ID}`;
const GW = `i12m-g${ID}`;
const HOST_IF = `i12mh${ID}`;
const DEV_IF = `i12md${ID}`;
const URL_ = 'https://lighting.example.com/lightbulb2000.json';
const sh = (...args: string[]) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const inNs = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);

/** Runs node in the device namespace to send one UDP datagram (hex payload). */
function sendFromDevice(family: 4 | 6, to: string, port: number, payload: Buffer, fromPort: number): void {
  const js = `const d=require('dgram').createSocket({type:'udp${family}'});d.bind(${fromPort},()=>{${family === 4 ? 'd.setBroadcast(true);' : ''}d.send(Buffer.from('${payload.toString('hex')}','hex'),${port},'${to}',(e)=>{if(e){console.error(e.message);process.exit(1)}d.close()})})`;
  inNs(DEV, process.execPath, '-e', js);
}

describe('DHCP tap: MUD URLs from DHCP option 161 and 112, with packets', () => {
  const reports: MudReport[] = [];
  let watcher: MudDhcpWatcher;
  let server: ReturnType<typeof spawn> | null = null;
  let serverGot = '';

  beforeAll(() => {
    sh('ip', 'netns', 'add', DEV);
    sh('ip', 'netns', 'add', GW);
    sh('ip', 'link', 'add', HOST_IF, 'netns', GW, 'type', 'veth', 'peer', 'name', DEV_IF, 'netns', DEV);
    for (const [ns, ifn, a4, a6] of [[GW, HOST_IF, '10.99.0.1/24', 'fd00:99::1/64'], [DEV, DEV_IF, '10.99.0.2/24', 'fd00:99::2/64']]) {
      inNs(ns, 'sysctl', '-qw', `net.ipv6.conf.${ifn}.accept_dad=0`);
      inNs(ns, 'ip', 'addr', 'add', a4, 'dev', ifn);
      inNs(ns, 'ip', '-6', 'addr', 'add', a6, 'dev', ifn, 'nodad');
      inNs(ns, 'ip', 'link', 'set', ifn, 'up');
      inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    }
    inNs(DEV, 'ip', 'route', 'add', 'default', 'dev', DEV_IF);
    const log = pino({ level: 'silent' });
    watcher = new MudDhcpWatcher(binding(), async (r) => reports.push(r), log);
    watcher.start([HOST_IF, 'no-such-if'], `/run/netns/${GW}`);
  });
  afterAll(async () => {
    await watcher?.stop();
    server?.kill();
    for (const ns of [DEV, GW]) {
      try {
        sh('ip', 'netns', 'del', ns);
      } catch {
        /* gone */
      }
    }
  });

  it('reports a DISCOVER and a REQUEST with option 161 once per device and URL, with the MAC and the address asked for; the DHCP server still gets them', async () => {
    // A "DHCP server": a UDP socket on 67 in the gateway namespace, counting what it receives.
    server = spawn('ip', ['netns', 'exec', GW, process.execPath, '-e', "const d=require('dgram').createSocket({type:'udp4',reuseAddr:true});d.on('message',(m)=>process.stdout.write('got '+m.length+'\\n'));d.bind(67,()=>process.stdout.write('ready\\n'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    server.stdout!.on('data', (b: Buffer) => (serverGot += b.toString()));
    await until('the DHCP server socket', () => serverGot.includes('ready'), 10_000);
    sendFromDevice(4, '255.255.255.255', 67, dhcpv4({ type: 1, mac: '02:00:00:00:00:61', url: URL_ }), 68);
    sendFromDevice(4, '10.99.0.1', 67, dhcpv4({ type: 3, mac: '02:00:00:00:00:62', url: URL_, requested: '10.99.0.62' }), 68);
    sendFromDevice(4, '10.99.0.1', 67, dhcpv4({ type: 3, mac: '02:00:00:00:00:62', url: URL_, requested: '10.99.0.62' }), 68); // a renewal
    sendFromDevice(4, '10.99.0.1', 67, dhcpv4({ type: 3, mac: '02:00:00:00:00:63', requested: '10.99.0.63' }), 68); // no MUD URL
    sendFromDevice(4, '10.99.0.1', 6767, dhcpv4({ type: 3, mac: '02:00:00:00:00:64', url: URL_ }), 68); // not the DHCP port
    await until('two reports', () => reports.length >= 2, 10_000);
    await until('the server to see all four DHCP packets', () => (serverGot.match(/got /g) ?? []).length >= 4, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(reports).toEqual([
      { url: URL_, mac: '02:00:00:00:00:61', address: '', source: 'dhcpv4', interface: HOST_IF },
      { url: URL_, mac: '02:00:00:00:00:62', address: '10.99.0.62', source: 'dhcpv4', interface: HOST_IF },
    ]);
  });

  it('reports a DHCPv6 SOLICIT with option 112 (the MAC from its DUID-LL)', async () => {
    const opt = (code: number, v: Buffer) => Buffer.concat([Buffer.from([code >> 8, code & 255, v.length >> 8, v.length & 255]), v]);
    const solicit = Buffer.concat([Buffer.from([1, 0x12, 0x34, 0x56]), opt(1, Buffer.from([0, 3, 0, 1, 2, 0, 0, 0, 0, 0x71])), opt(112, Buffer.from(URL_))]);
    sendFromDevice(6, `ff02::1:2%${DEV_IF}`, 547, solicit, 546);
    await until('the DHCPv6 report', () => reports.some((r) => r.source === 'dhcpv6'), 10_000);
    expect(reports.find((r) => r.source === 'dhcpv6')).toEqual({ url: URL_, mac: '02:00:00:00:00:71', address: '', source: 'dhcpv6', interface: HOST_IF });
  });
});
