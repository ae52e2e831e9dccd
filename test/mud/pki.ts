// SPDX-License-Identifier: Apache-2.0
/**
 * Test PKI for MUD: a TLS CA and a server certificate for 127.0.0.1 (the
 * local HTTPS MUD server), a MUD signer CA with a signer certificate, and
 * signing as RFC 8520 §13.2 says manufacturers do:
 * `openssl cms -sign -binary -outform DER -in FILE -signer CERT -inkey KEY`.
 * Everything is made with the openssl command, so the verifier is checked
 * against an independent implementation.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const ssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

function ca(dir: string, name: string, days = 30): void {
  ssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', String(days), '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

function leaf(dir: string, name: string, issuer: string, ext: string[], days = 30): void {
  ssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  ssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', String(days), '-extfile', `${name}.ext`);
}

export interface MudPki {
  dir: string;
  tlsCa: string;
  serverCert: string;
  serverKey: string;
  /** The MUD signer CA (the trust anchor) and a CA nobody trusts. */
  signerCa: string;
  otherCa: string;
  /** A detached DER CMS signature of `content` by the signer (or its second signer CN=mud-signer-2, or a signer of the untrusted CA). */
  sign(content: Buffer, opts?: { untrusted?: boolean; minted?: boolean; second?: boolean }): Buffer;
  cleanup(): void;
}

export function makePki(): MudPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-mud-pki-'));
  ca(dir, 'tls-ca');
  leaf(dir, 'server', 'tls-ca', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth']);
  ca(dir, 'mud-signer-ca');
  leaf(dir, 'mud-signer', 'mud-signer-ca', ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=codeSigning']);
  // a second signer under the same anchor (trusted too): the manufacturer's other key, or one an attacker got issued
  leaf(dir, 'mud-signer-2', 'mud-signer-ca', ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=codeSigning']);
  ca(dir, 'other-ca');
  leaf(dir, 'other-signer', 'other-ca', ['keyUsage=critical,digitalSignature']);
  // an end-entity certificate under the anchor (no basicConstraints, no keyUsage) that signs a "signer" of its own
  leaf(dir, 'plain-ee', 'mud-signer-ca', ['extendedKeyUsage=codeSigning']);
  leaf(dir, 'minted-signer', 'plain-ee', ['keyUsage=critical,digitalSignature']);
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  return {
    dir,
    tlsCa: read('tls-ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    signerCa: read('mud-signer-ca.crt'),
    otherCa: read('other-ca.crt'),
    sign(content, opts = {}) {
      const who = opts.untrusted ? 'other-signer' : opts.minted ? 'minted-signer' : opts.second ? 'mud-signer-2' : 'mud-signer';
      const inFile = path.join(dir, `in-${process.hrtime.bigint()}.json`);
      fs.writeFileSync(inFile, content);
      const out = ssl(dir, 'cms', '-sign', '-binary', '-outform', 'DER', '-md', 'sha256', '-in', inFile, '-signer', `${who}.crt`, '-inkey', `${who}.key`, ...(opts.minted ? ['-certfile', 'plain-ee.crt'] : []));
      fs.rmSync(inFile);
      return out;
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export type Route = (req: { path: string }, res: import('node:http').ServerResponse) => void;

/** An HTTPS server on 127.0.0.1 with the PKI's server certificate; counts requests per path. */
export async function mudServer(pki: MudPki, route: Route): Promise<{ base: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const sockets = new Set<import('node:stream').Duplex>();
  const server = https.createServer({ cert: pki.serverCert, key: pki.serverKey }, (req, res) => {
    const p = (req.url ?? '/').split('?')[0];
    hits.set(p, (hits.get(p) ?? 0) + 1);
    route({ path: p }, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    hits,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
