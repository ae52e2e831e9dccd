// SPDX-License-Identifier: Apache-2.0
/**
 * A device certificate's MUD URL (id-pe-mud-url, RFC 8520 §10): a device
 * asks the device CA for a certificate with a CSR naming its MUD URL (made
 * with openssl), and the MUD manager proposes its MUD file for it, fetched
 * from a local HTTPS server.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ID_PE_MUD_URL } from '../../model/mud/announcement';
import { device, makeKek, startCaController, tmpDir, type CaController } from '../credentials/helpers';
import { until } from '../support/wait';
import { LIGHTBULB_MUD } from '../monitoring/fixtures';
import { makePki, mudServer, type MudPki } from './pki';

jest.setTimeout(90_000);

describe('MUD URL of a device certificate', () => {
  let pki: MudPki;
  let srv: Awaited<ReturnType<typeof mudServer>>;
  let t: CaController;
  let work: string;
  let body: Buffer;

  beforeAll(async () => {
    pki = makePki();
    srv = await mudServer(pki, ({ path: p }, res) => (p === '/lightbulb2000.json' ? res.end(body) : res.writeHead(404).end()));
    body = Buffer.from(JSON.stringify({ ...LIGHTBULB_MUD, 'ietf-mud:mud': { ...LIGHTBULB_MUD['ietf-mud:mud'], 'mud-url': `${srv.base}/lightbulb2000.json` } }));
    work = tmpDir('cordon-mud-cert-');
    t = await startCaController({ kekFile: makeKek(path.join(work, 'secrets')), controller: { mudCa: path.join(pki.dir, 'tls-ca.crt') } });
    expect((await t.call('POST', '/v1/apply', { documents: [device('bulb-7', {}, '10.40.0.7')] })).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await srv?.close();
    pki?.cleanup();
    for (const d of [work, t?.dataDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('a CSR with id-pe-mud-url gets its certificate, and the MUD manager proposes the file for the device', async () => {
    const csr = execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(work, 'k.pem'), '-subj', '/CN=bulb-7', '-addext', `${ID_PE_MUD_URL}=ASN1:IA5STRING:${srv.base}/lightbulb2000.json`], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const r = await t.call('POST', '/v1/devices/bulb-7/credentials', { kind: 'certificate', csr });
    expect(r.status).toBe(201);
    let items: any[] = [];
    await until('the MUD proposal for bulb-7', async () => {
      items = (await t.call('GET', '/v1/mud/pending')).body.items;
      return items.length > 0;
    }, 20_000);
    expect(items).toEqual([expect.objectContaining({ device: 'bulb-7', source: 'certificate', status: 'pending', url: `${srv.base}/lightbulb2000.json` })]);
    const dev = items[0].documents.find((d: any) => d.kind === 'Device');
    expect(dev).toMatchObject({ metadata: { name: 'bulb-7', labels: { 'mud-type': 'lightbulb2000' } }, spec: { addresses: ['10.40.0.7'] } });
    expect(srv.hits.get('/lightbulb2000.json')).toBe(1);
  });
});
