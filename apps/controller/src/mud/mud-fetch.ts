// SPDX-License-Identifier: Apache-2.0
/**
 * Fetching a MUD file or its signature (RFC 8520 §4, §13): https only, a
 * redirect may not leave https, a whole-request deadline and a size limit
 * (a device names the URL, so the URL is untrusted input).
 */
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { SecureContextOptions } from 'node:tls';

export interface FetchOptions {
  /** The whole request, redirects included (default 10 s). */
  timeoutMs?: number;
  /** The most bytes a body may have (default 256 KiB: MUD files are a few KiB). */
  maxBytes?: number;
  maxRedirects?: number;
  /** Extra trust for the server's certificate (tests, private MUD servers); default the system's. */
  ca?: SecureContextOptions['ca'];
  accept?: string;
}

export class MudFetchError extends Error {
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(`${url}: ${message}`);
    this.name = 'MudFetchError';
  }
}

export const FETCH_DEFAULTS = { timeoutMs: 10_000, maxBytes: 256 * 1024, maxRedirects: 3 } as const;

function parseHttps(url: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MudFetchError(url, `${what} is not a URL`);
  }
  if (u.protocol !== 'https:') throw new MudFetchError(url, `${what} is ${u.protocol.replace(/:$/, '')}: MUD files are fetched over https only`);
  return u;
}

export async function fetchHttps(url: string, opts: FetchOptions = {}): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? FETCH_DEFAULTS.timeoutMs;
  const maxBytes = opts.maxBytes ?? FETCH_DEFAULTS.maxBytes;
  const maxRedirects = opts.maxRedirects ?? FETCH_DEFAULTS.maxRedirects;
  const deadline = Date.now() + timeoutMs;
  let current = parseHttps(url, 'the URL');
  for (let hop = 0; ; hop++) {
    const r = await get(current, opts, Math.max(1, deadline - Date.now()), maxBytes);
    if ('location' in r) {
      if (hop >= maxRedirects) throw new MudFetchError(url, `more than ${maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(r.location, current);
      } catch {
        throw new MudFetchError(url, `a redirect to ${JSON.stringify(r.location)}, which is not a URL`);
      }
      if (next.protocol !== 'https:') throw new MudFetchError(url, `refused a redirect to ${next.href}: MUD files are fetched over https only`);
      current = next;
      continue;
    }
    return r.body;
  }
}

function get(u: URL, opts: FetchOptions, timeoutMs: number, maxBytes: number): Promise<{ body: Buffer } | { location: string }> {
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      clearTimeout(timer);
      req.destroy();
      reject(new MudFetchError(u.href, message));
    };
    const req = https.get(u, { ca: opts.ca ? [...tls.rootCertificates, ...[opts.ca].flat()] : undefined, agent: false, headers: { accept: opts.accept ?? 'application/mud+json, application/json' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && status !== 304) {
        res.resume();
        clearTimeout(timer);
        if (!res.headers.location) return reject(new MudFetchError(u.href, `HTTP ${status} without a Location`));
        return resolve({ location: res.headers.location });
      }
      if (status !== 200) {
        res.resume();
        return fail(`HTTP ${status}`);
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) return fail(`larger than ${maxBytes} bytes (Content-Length ${declared})`);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) fail(`larger than ${maxBytes} bytes`);
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        if (size <= maxBytes) resolve({ body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => fail(err.message));
    });
    const timer = setTimeout(() => fail(`no complete answer within ${timeoutMs} ms`), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new MudFetchError(u.href, err.message));
    });
  });
}
