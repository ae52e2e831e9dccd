// SPDX-License-Identifier: Apache-2.0
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { dhcpv4 } from '../../test/mud/dhcp';
import { ID_PE_MUD_URL, mudUrlOfExtension, parseDhcpV4, parseDhcpV6 } from './announcement';

const URL_ = 'https://iot.plugco.example/devices/smartplug-p110.json';

describe('DHCPv4 option 161', () => {
  it('reads the MUD URL, the client MAC and the address asked for (DISCOVER, REQUEST, INFORM), and a split option', () => {
    expect(parseDhcpV4(dhcpv4({ type: 1, mac: '02:00:00:00:00:11', url: URL_ }))).toEqual({ url: URL_, mac: '02:00:00:00:00:11', address: null, messageType: 1 });
    expect(parseDhcpV4(dhcpv4({ type: 3, mac: '02:00:00:00:00:11', url: URL_, requested: '10.40.0.11' }))).toMatchObject({ address: '10.40.0.11', messageType: 3 });
    expect(parseDhcpV4(dhcpv4({ type: 8, mac: '02:00:00:00:00:11', url: URL_, ciaddr: '10.40.0.12' }))).toMatchObject({ address: '10.40.0.12' });
    expect(parseDhcpV4(dhcpv4({ type: 1, mac: '02:00:00:00:00:11', url: URL_, split: true }))).toMatchObject({ url: URL_ });
  });
  it('ignores what is not a client request with an https MUD URL, and truncated packets', () => {
    expect(parseDhcpV4(dhcpv4({ type: 1, mac: '02:00:00:00:00:11' }))).toBeNull();
    expect(parseDhcpV4(dhcpv4({ type: 1, mac: '02:00:00:00:00:11', url: 'http://x.example/a.json' }))).toBeNull();
    expect(parseDhcpV4(dhcpv4({ type: 5, mac: '02:00:00:00:00:11', url: URL_ }))).toBeNull(); // an ACK
    const reply = dhcpv4({ type: 1, mac: '02:00:00:00:00:11', url: URL_ });
    reply[0] = 2;
    expect(parseDhcpV4(reply)).toBeNull();
    const full = dhcpv4({ type: 1, mac: '02:00:00:00:00:11', url: URL_ });
    for (const n of [0, 100, 239, 245, full.length - 20]) expect(parseDhcpV4(full.subarray(0, n))).toBeNull();
    expect(parseDhcpV4(Buffer.alloc(600, 0xff))).toBeNull();
  });
});

describe('DHCPv6 option 112', () => {
  const opt = (code: number, v: Buffer) => Buffer.concat([Buffer.from([code >> 8, code & 255, v.length >> 8, v.length & 255]), v]);
  it('reads the URL, the MAC of a DUID-LL or DUID-LLT, and the IA_NA address', () => {
    const duidLl = opt(1, Buffer.from([0, 3, 0, 1, 2, 0, 0, 0, 0, 0x21]));
    const iaaddr = opt(5, Buffer.concat([Buffer.from('fd00001000000000000000000000002a', 'hex'), Buffer.alloc(8)]));
    const iana = opt(3, Buffer.concat([Buffer.alloc(12), iaaddr]));
    const pkt = Buffer.concat([Buffer.from([1, 0xaa, 0xbb, 0xcc]), duidLl, iana, opt(112, Buffer.from(URL_)), opt(6, Buffer.from([0, 23]))]);
    expect(parseDhcpV6(pkt)).toEqual({ url: URL_, mac: '02:00:00:00:00:21', address: 'fd00:10::2a', messageType: 1 });
    const duidLlt = opt(1, Buffer.from([0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 2, 0, 0, 0, 0, 0x22]));
    expect(parseDhcpV6(Buffer.concat([Buffer.from([11, 0, 0, 1]), duidLlt, opt(112, Buffer.from(URL_))]))).toMatchObject({ mac: '02:00:00:00:00:22', address: null, messageType: 11 });
  });
  it('ignores server messages, plain http and truncated options', () => {
    expect(parseDhcpV6(Buffer.concat([Buffer.from([7, 0, 0, 1]), opt(112, Buffer.from(URL_))]))).toBeNull(); // a REPLY
    expect(parseDhcpV6(Buffer.concat([Buffer.from([1, 0, 0, 1]), opt(112, Buffer.from('http://a.example/x.json'))]))).toBeNull();
    const pkt = Buffer.concat([Buffer.from([1, 0, 0, 1]), opt(112, Buffer.from(URL_))]);
    expect(parseDhcpV6(pkt.subarray(0, pkt.length - 3))).toBeNull();
  });
});

describe('id-pe-mud-url (1.3.6.1.5.5.7.1.25)', () => {
  it('reads the MUD URL of a certificate request as a device makes it with openssl', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-mudurl-'));
    try {
      const csr = execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-subj', '/CN=plug-1', '-addext', `${ID_PE_MUD_URL}=ASN1:IA5STRING:${URL_}`], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      const req = new x509.Pkcs10CertificateRequest(csr);
      const ext = req.extensions.find((e) => e.type === ID_PE_MUD_URL);
      expect(ext).toBeDefined();
      expect(mudUrlOfExtension(new Uint8Array(ext!.value))).toBe(URL_);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(mudUrlOfExtension(Buffer.from([0x0c, 3, 0x61, 0x62, 0x63]))).toBeNull(); // a UTF8String
    expect(mudUrlOfExtension(Buffer.concat([Buffer.from([0x16, 30]), Buffer.from('http://a.example/x.json1234567')]))).toBeNull();
  });
});
