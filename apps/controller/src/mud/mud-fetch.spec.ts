// SPDX-License-Identifier: Apache-2.0
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makePki, mudServer, type MudPki } from '../../../../test/mud/pki';
import { fetchHttps, MudFetchError } from './mud-fetch';
import { parseTrustAnchors, verifyMudSignature, MudSignatureError } from './mud-signature';

const PLUG = fs.readFileSync(path.join(__dirname, '../../../../test/mud/fixtures/mudmaker-smartplug.json'));

let pki: MudPki;
let srv: Awaited<ReturnType<typeof mudServer>>;
beforeAll(async () => {
  pki = makePki();
  srv = await mudServer(pki, ({ path: p }, res) => {
    if (p === '/plug.json') return res.end(PLUG);
    if (p === '/big.json') return res.end(Buffer.alloc(300 * 1024, 0x20));
    if (p === '/big-chunked.json') {
      res.write(Buffer.alloc(200 * 1024, 0x20));
      return setTimeout(() => res.end(Buffer.alloc(200 * 1024, 0x20)), 10);
    }
    if (p === '/slow.json') return setTimeout(() => res.end('{}'), 3000);
    if (p === '/to-http') return res.writeHead(302, { location: `http://127.0.0.1:1/plug.json` }).end();
    if (p === '/to-https') return res.writeHead(301, { location: '/plug.json' }).end();
    if (p === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    res.writeHead(404).end();
  });
}, 30_000);
afterAll(async () => {
  await srv?.close();
  pki?.cleanup();
});

describe('fetching MUD files over https', () => {
  const opts = () => ({ ca: pki.tlsCa, timeoutMs: 1000 });
  it('fetches the file, and follows an https redirect', async () => {
    expect(await fetchHttps(`${srv.base}/plug.json`, opts())).toEqual(PLUG);
    expect(await fetchHttps(`${srv.base}/to-https`, opts())).toEqual(PLUG);
  });
  it('refuses plain http, a redirect to it, a redirect loop and an untrusted server certificate', async () => {
    await expect(fetchHttps(`http://127.0.0.1:1/plug.json`, opts())).rejects.toThrow('MUD files are fetched over https only');
    await expect(fetchHttps(`${srv.base}/to-http`, opts())).rejects.toThrow(/refused a redirect to http:\/\/127\.0\.0\.1:1\/plug\.json: MUD files are fetched over https only/);
    await expect(fetchHttps(`${srv.base}/loop`, opts())).rejects.toThrow('more than 3 redirects');
    await expect(fetchHttps(`${srv.base}/plug.json`, { timeoutMs: 1000 })).rejects.toThrow(MudFetchError);
    await expect(fetchHttps(`${srv.base}/nope.json`, opts())).rejects.toThrow('HTTP 404');
  });
  it('gives up at the deadline and past the size limit (declared or streamed)', async () => {
    const t0 = Date.now();
    await expect(fetchHttps(`${srv.base}/slow.json`, { ca: pki.tlsCa, timeoutMs: 300 })).rejects.toThrow('no complete answer within 300 ms');
    expect(Date.now() - t0).toBeLessThan(2500);
    await expect(fetchHttps(`${srv.base}/big.json`, opts())).rejects.toThrow('larger than 262144 bytes (Content-Length 307200)');
    await expect(fetchHttps(`${srv.base}/big-chunked.json`, { ...opts(), maxBytes: 300 * 1024 })).rejects.toThrow('larger than 307200 bytes');
  });
});

describe('mud-signature (CMS detached, RFC 8520 §13)', () => {
  it('accepts the file signed by a signer under the trust anchor, PEM or DER', () => {
    const sig = pki.sign(PLUG);
    expect(verifyMudSignature(PLUG, sig, parseTrustAnchors(pki.signerCa))).toBe('CN=mud-signer');
    const pem = Buffer.from(`-----BEGIN CMS-----\n${sig.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CMS-----\n`);
    expect(verifyMudSignature(PLUG, pem, parseTrustAnchors(pki.otherCa + pki.signerCa))).toBe('CN=mud-signer');
  });
  it('refuses a changed file, a changed signature, a signer nobody trusts, no anchors, and garbage', () => {
    const sig = pki.sign(PLUG);
    const anchors = parseTrustAnchors(pki.signerCa);
    const tampered = Buffer.from(PLUG.toString().replace('"port": 443', '"port": 444'));
    expect(() => verifyMudSignature(tampered, sig, anchors)).toThrow('the file does not match its signature (messageDigest differs)');
    const flipped = Buffer.from(sig);
    flipped[flipped.length - 5] ^= 0x01; // inside the signature value, the last field of the SignerInfo
    expect(() => verifyMudSignature(PLUG, flipped, anchors)).toThrow("the signature does not verify with the signer's key");
    expect(() => verifyMudSignature(PLUG, pki.sign(PLUG, { untrusted: true }), anchors)).toThrow('does not chain to a trusted MUD signer CA');
    // the chain's intermediate is an end-entity certificate under the anchor: not a CA, so it cannot make signers
    expect(() => verifyMudSignature(PLUG, pki.sign(PLUG, { minted: true }), anchors)).toThrow('does not chain to a trusted MUD signer CA');
    expect(() => verifyMudSignature(PLUG, sig, [])).toThrow('no MUD signer trust anchors are configured');
    expect(() => verifyMudSignature(PLUG, Buffer.from('not a signature'), anchors)).toThrow(/not a CMS signature/);
  });
  it('refuses a signature that is no longer valid', () => {
    const sig = pki.sign(PLUG);
    expect(() => verifyMudSignature(PLUG, sig, parseTrustAnchors(pki.signerCa), new Date(Date.now() + 400 * 86400_000))).toThrow(/is not valid now/);
  });
});
