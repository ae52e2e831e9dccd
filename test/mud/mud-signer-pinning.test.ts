// SPDX-License-Identifier: Apache-2.0
/**
 * Signer pinning (RFC 8520 §13.2) against a started controller and a local
 * HTTPS MUD server (test/mud/pki.ts): once a URL's file was accepted signed by
 * CN=mud-signer, a later file for it signed by another trusted signer, or
 * unsigned, is held pending with the reason, even in a `mud: auto` Segment;
 * approving it accepts the new signer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { startTestController, type TestController } from '../api/harness';
import { LIGHTBULB_MUD } from '../monitoring/fixtures';
import { makePki, mudServer, type MudPki } from './pki';

describe('MUD signer pinning', () => {
  let pki: MudPki;
  let srv: Awaited<ReturnType<typeof mudServer>>;
  let t: TestController;
  const files = new Map<string, Buffer>();
  const announce = (mac: string, address: string) => t.call('POST', '/v1/mud/announce', { source: 'dhcpv4', url: `${srv.base}/bulb.json`, mac, address });
  /** Serves a new bulb.json (its systeminfo tells the versions apart), signed by `by`, or unsigned; the cached copy expires. */
  const publish = async (version: number, by: 'first' | 'second' | 'none') => {
    const m = { ...LIGHTBULB_MUD['ietf-mud:mud'], 'mud-url': `${srv.base}/bulb.json`, systeminfo: `bulb v${version}`, ...(by === 'none' ? {} : { 'mud-signature': `${srv.base}/bulb.p7s` }) };
    const body = Buffer.from(JSON.stringify({ ...LIGHTBULB_MUD, 'ietf-mud:mud': m }));
    files.set('/bulb.json', body);
    if (by !== 'none') files.set('/bulb.p7s', pki.sign(body, { second: by === 'second' }));
    await t.ctl.store.sql.query("update mud_proposals set valid_until = now() - interval '1 second' where url like '%/bulb.json'");
  };
  const labels = async (device: string) => (await t.call('GET', `/v1/devices/${device}`)).body.metadata.labels ?? {};

  beforeAll(async () => {
    pki = makePki();
    srv = await mudServer(pki, ({ path: p }, res) => {
      const f = files.get(p);
      if (f) return res.end(f);
      res.writeHead(404).end();
    });
    fs.writeFileSync(path.join(pki.dir, 'anchors.pem'), pki.signerCa);
    t = await startTestController('pglite', undefined, { mudTrustAnchors: `${pki.dir}/anchors.pem`, mudCa: `${pki.dir}/tls-ca.crt`, mudFetchTimeout: '3s' });
    const r = await t.call('POST', '/v1/apply', { documents: [{ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'iot-auto' }, spec: { cidrs: ['10.30.0.0/24'], mud: 'auto' } }] });
    expect(r.status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await srv?.close();
    pki?.cleanup();
  });

  it('a file signed by another trusted signer after an accepted one is held for review, not applied; approving it moves the pin', async () => {
    await publish(1, 'first');
    const first = await announce('02:00:00:00:00:61', '10.30.0.61');
    expect(first.body).toMatchObject({ device: 'mud-020000000061', status: 'applied', signedBy: 'CN=mud-signer', error: null });

    // the same URL, a new file, a signature that verifies against the same anchor, by another signer
    await publish(2, 'second');
    const changed = await announce('02:00:00:00:00:61', '10.30.0.61');
    expect(changed.body).toMatchObject({ device: 'mud-020000000061', status: 'pending', signedBy: 'CN=mud-signer-2' });
    expect(changed.body.error).toBe(
      `signer changed: this file is signed by CN=mud-signer-2, but ${srv.base}/bulb.json was accepted signed by CN=mud-signer; held for review (RFC 8520 §13.2), \`cordon mud approve mud-020000000061\` accepts it and its signer`,
    );
    expect(changed.body.mud['ietf-mud:mud'].systeminfo).toBe('bulb v2');
    // another device announcing the URL: held too (the pin is the URL's), though its segment says mud: auto
    const other = await announce('02:00:00:00:00:62', '10.30.0.62');
    expect(other.body).toMatchObject({ device: 'mud-020000000062', status: 'pending', error: expect.stringContaining('signer changed') });
    expect((await t.call('GET', '/v1/devices')).body.items.map((d: any) => d.metadata.name)).toEqual(['mud-020000000061']);
    const env = { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken };
    expect((await runCli(['mud', 'pending'], { env })).stdout).toMatch(/mud-020000000062\s+pending.*signer changed: this file is signed by CN=mud-signer-2/);

    // the operator reviews and approves: the new signer is the URL's from now on
    expect((await runCli(['mud', 'approve', 'mud-020000000062'], { env })).code).toBe(0);
    expect(await labels('mud-020000000062')).toEqual({ 'mud-type': 'bulb' });
    await publish(3, 'second');
    expect((await announce('02:00:00:00:00:63', '10.30.0.63')).body).toMatchObject({ status: 'applied', signedBy: 'CN=mud-signer-2', error: null });
    // and the first signer is now the other one
    await publish(4, 'first');
    expect((await announce('02:00:00:00:00:64', '10.30.0.64')).body).toMatchObject({ status: 'pending', error: expect.stringContaining('signed by CN=mud-signer, but') });
  });

  it('an unsigned file for a URL whose file was accepted signed is held too', async () => {
    await publish(5, 'none');
    const r = await announce('02:00:00:00:00:65', '10.30.0.65');
    expect(r.body).toMatchObject({ device: 'mud-020000000065', status: 'pending', signedBy: null });
    expect(r.body.error).toContain('signer changed: this file is unsigned, but');
    expect((await t.call('GET', '/v1/devices/mud-020000000065')).status).toBe(404);
  });
});
