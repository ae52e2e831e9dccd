// SPDX-License-Identifier: Apache-2.0
/** Waiting in tests: the one `until` and the one `freePort` every spec uses. */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Falsy = undefined | null | false | 0 | '';

/**
 * Polls `fn` every `every` ms until it returns something truthy, and returns
 * that; throws naming `what` after `ms`. An error thrown by fn ends the wait,
 * unless opts.retryErrors: then it counts as not yet, and the timeout's
 * message carries the last one.
 */
export async function until<T>(what: string, fn: () => Promise<T | Falsy> | T | Falsy, ms = 15_000, every = 50, opts: { retryErrors?: boolean } = {}): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      if (!opts.retryErrors) throw err;
      last = err;
    }
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(every);
  }
}

/** A port free right now on 127.0.0.1 (TCP by default). Prefer binding HOST:0 and reading the port back where a server can. */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const u = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(0, '127.0.0.1', () => resolve());
    });
    const port = u.address().port;
    await new Promise<void>((r) => u.close(() => r()));
    return port;
  }
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
