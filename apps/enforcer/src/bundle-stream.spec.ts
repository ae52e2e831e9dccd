import 'reflect-metadata';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { controlClient } from '../../../proto/cordon/v1/client';
import { CertificateAuthority } from '../../controller/src/control/ca/certificate-authority';
import { keyAndCsr } from '../../controller/src/control/testing/fakes';
import { BundleStream, type BundleStreamDeps } from './bundle-stream';

jest.setTimeout(30_000);

describe('policy stream', () => {
  it('gives up (after connectTimeoutMs) a controller that took the TCP connection and never answers the TLS handshake (frozen), and moves on', async () => {
    // A listener that accepts and says nothing: what a frozen controller (SIGSTOP, a hung host) looks like after
    // the kernel's TCP handshake. gRPC keepalive only runs on an established connection: without the connect
    // timeout, the watch waited for ever.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bs-'));
    const ca = await CertificateAuthority.open(dir);
    const { keyPem, csrPem } = await keyAndCsr('gw-1');
    const signed = await ca.signEnforcerCsr(csrPem, 'gw-1', 3600_000);
    const client = controlClient(`127.0.0.1:${(silent.address() as net.AddressInfo).port}`, { caPem: ca.certificatePem, certPem: signed.certificatePem, keyPem });
    const abort = new AbortController();
    const lost: string[] = [];
    const t0 = Date.now();
    const stream = new BundleStream({
      name: () => 'gw-1',
      labels: () => ({}),
      client: () => client,
      keeper: { current: null },
      applier: { onUpdate: () => undefined },
      metrics: { connected: { set: () => undefined } },
      log: pino({ level: 'silent' }),
      stopped: () => abort.signal.aborted,
      abort: abort.signal,
      onApplied: () => undefined,
      onLost: (why: string) => {
        lost.push(why);
        abort.abort();
        return 0;
      },
      connectTimeoutMs: 500,
    } as unknown as BundleStreamDeps);
    await stream.run();
    expect(lost).toEqual(['no connection within 500 ms']);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(sockets.length).toBeGreaterThan(0); // it did connect: the TCP handshake was answered
    client.close();
    for (const s of sockets) s.destroy();
    silent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
