// SPDX-License-Identifier: Apache-2.0
/**
 * EST (RFC 7030) over HTTPS, on its own port (--est, default 0.0.0.0:7473):
 *
 *   GET  /.well-known/est/cacerts         the device CA, certs-only PKCS#7, base64
 *   POST /.well-known/est/simpleenroll    base64 PKCS#10; HTTP Basic: user = the
 *                                         Device's name, password = a one-time
 *                                         enrollment token (POST /v1/devices/NAME/enrollment-tokens);
 *                                         or a live client certificate of that device
 *   POST /.well-known/est/simplereenroll  base64 PKCS#10; authenticated by the
 *                                         device's current certificate (TLS client
 *                                         auth); the old certificate keeps working
 *                                         for --credential-overlap, then is revoked
 *
 * The server's own certificate comes from the device CA at each start (key only
 * in memory), so a client that trusts /v1/ca/cert trusts the EST server.
 */
import * as https from 'node:https';
import * as os from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Logger } from 'pino';
import { Problem } from '../http/problem';
import type { EstIssuer } from './credential-types';
import type { DeviceCa } from './device-ca';
import { base64Lines, certsOnly } from './pkcs7';

const MAX_BODY = 64 * 1024;
const PKCS7 = 'application/pkcs7-mime; smime-type=certs-only';

export class EstServer {
  private server: https.Server | null = null;
  address = '';

  constructor(
    private readonly credentials: EstIssuer,
    private readonly ca: DeviceCa,
    private readonly log: Logger,
  ) {}

  async listen(host: string, port: number): Promise<void> {
    const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const ips = ['127.0.0.1', '::1'];
    if (/^[0-9.]+$|:/.test(host) && host !== '0.0.0.0' && host !== '::' && !ips.includes(host)) ips.push(host);
    const cert = await this.ca.issue({
      commonName: 'cordon-est',
      publicKey: pair.publicKey,
      notAfter: new Date(Date.now() + 365 * 86400_000),
      dnsNames: [...new Set(['localhost', os.hostname()])],
      ips,
      server: true,
    });
    const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY');
    this.server = https.createServer(
      {
        key,
        cert: cert.toString('pem'),
        ca: [this.ca.certificatePem],
        // Asked for, not required: simpleenroll may come with HTTP Basic only. Checked per route.
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      (req, res) => void this.handle(req, res),
    );
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      // Not the raw EADDRINUSE: the CLI would blame --http. Name the EST flag.
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new Error(`EST cannot listen on ${host}:${port}: ${err.code ?? err.message} — pick another address with --est HOST:PORT, or --est off`));
      this.server!.once('error', onError);
      this.server!.listen(port, host, () => {
        this.server!.off('error', onError);
        resolve();
      });
    });
    this.server.on('error', (err) => this.log.error({ err: String(err) }, 'EST server error'));
    const a = this.server.address() as AddressInfo;
    this.address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address === '0.0.0.0' ? '127.0.0.1' : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
    try {
      if (url === '/.well-known/est/cacerts' && req.method === 'GET') {
        return send(res, 200, certsOnly([this.ca.certificate]));
      }
      if (url === '/.well-known/est/simpleenroll' && req.method === 'POST') return await this.enroll(req, res, false);
      if (url === '/.well-known/est/simplereenroll' && req.method === 'POST') return await this.enroll(req, res, true);
      if (url.startsWith('/.well-known/est/')) return text(res, 404, `unsupported EST operation ${url.slice(17)} (cacerts, simpleenroll, simplereenroll)`);
      return text(res, 404, 'not found: EST lives under /.well-known/est/');
    } catch (err) {
      if (err instanceof Problem) return text(res, err.status, err.detail ?? err.title, err.status === 401 ? { 'WWW-Authenticate': 'Basic realm="cordon-est"' } : {});
      this.log.error({ err: String(err), url }, 'EST request failed');
      return text(res, 500, 'internal error');
    }
  }

  private async enroll(req: IncomingMessage, res: ServerResponse, re: boolean) {
    const client = await this.clientCertificate(req);
    let device: string;
    let replaces: string[] | undefined;
    // simpleenroll with a live certificate replaces that certificate at once (RFC 7030 §4.2.1 leaves it to
    // the server): a device, or a thief of its key, cannot mint itself more certificates than it had.
    let replaceNow = false;
    if (re) {
      if (!client) throw new Problem(401, 'Unauthorized', 'simplereenroll needs the current certificate of the device (TLS client authentication)');
      device = client.device;
      replaces = [client.serial];
    } else if (client) {
      device = client.device;
      replaces = [client.serial];
      replaceNow = true;
    } else {
      const basic = parseBasic(req.headers.authorization);
      if (!basic) throw new Problem(401, 'Unauthorized', 'simpleenroll needs HTTP Basic (user: the device name, password: a one-time enrollment token) or a client certificate');
      if (!(await this.credentials.consumeEnrollmentToken(basic.user, basic.password))) {
        this.log.warn({ device: basic.user, source: req.socket.remoteAddress }, 'EST enroll refused: unknown, used or expired token');
        throw new Problem(401, 'Unauthorized', 'the enrollment token is unknown, used or expired, or belongs to another device');
      }
      device = basic.user;
    }
    const body = await readBody(req);
    const issued = await this.credentials.issueCertificate(device, {
      csr: body,
      actor: { name: `est:${device}`, source: req.socket.remoteAddress ?? null },
      rotate: re || replaceNow,
      ...(replaceNow ? { overlapMs: 0 } : {}),
      replaces,
      via: re ? 'est-simplereenroll' : 'est-simpleenroll',
    });
    return send(res, 200, certsOnly([new x509.X509Certificate(issued.certificate!)]));
  }

  /** The TLS client certificate, if it is a live device certificate of this CA. */
  private async clientCertificate(req: IncomingMessage): Promise<{ device: string; serial: string } | null> {
    const sock = req.socket as TLSSocket;
    const peer = sock.getPeerCertificate?.();
    if (!peer || !peer.raw) return null;
    const cert = new x509.X509Certificate(peer.raw);
    const now = Date.now();
    if (!sock.authorized || !(await this.ca.signed(cert)) || cert.notBefore.getTime() > now || cert.notAfter.getTime() <= now) {
      throw new Problem(401, 'Unauthorized', 'the client certificate is not one of this device CA, or has expired');
    }
    const row = await this.credentials.liveCertificate(cert.serialNumber);
    if (!row) throw new Problem(401, 'Unauthorized', 'the client certificate is revoked or unknown');
    return { device: row.device, serial: row.id };
  }
}

function parseBasic(h: string | undefined): { user: string; password: string } | null {
  const m = h ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(h.trim()) : null;
  if (!m) return null;
  const s = Buffer.from(m[1], 'base64').toString('utf8');
  const i = s.indexOf(':');
  return i > 0 ? { user: s.slice(0, i), password: s.slice(i + 1) } : null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Problem(413, 'Payload Too Large', `a CSR is at most ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1').trim();
      if (!body) reject(new Problem(400, 'Bad Request', 'send a base64 PKCS#10 request (Content-Type: application/pkcs10)'));
      else resolve(body);
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, der: Buffer) {
  res.writeHead(status, { 'Content-Type': PKCS7, 'Content-Transfer-Encoding': 'base64' });
  res.end(base64Lines(der));
}

function text(res: ServerResponse, status: number, msg: string, headers: Record<string, string> = {}) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(msg + '\n');
}
