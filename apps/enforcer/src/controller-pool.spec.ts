import 'reflect-metadata';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectivityState } from '@grpc/grpc-js';
import pino from 'pino';
import type { RawControlClient } from '../../../proto/cordon/v1/client';
import { Backoff } from './backoff';
import { ControllerPool, MOVE_JITTER_MS, spreadOrder } from './controller-pool';
import { CertificateAuthority } from '../../controller/src/control/ca/certificate-authority';
import { keyAndCsr } from '../../controller/src/control/testing/fakes';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const t = Date.now();
  while (!ok()) {
    if (Date.now() - t > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

/** A TLS listener that speaks HTTP/2 with a controller's certificate, counting the handshakes it completes. */
async function tlsController(ca: CertificateAuthority) {
  const { certPem, keyPem } = await ca.issueServerCertificate();
  const server = http2.createSecureServer({ key: keyPem, cert: certPem + ca.certificatePem, ca: ca.certificatePem, requestCert: true, rejectUnauthorized: false });
  const s = { handshakes: 0, address: '', close: () => new Promise<void>((r) => server.close(() => r())) };
  server.on('secureConnection', () => s.handshakes++);
  server.on('session', (session) => server.once('close', () => session.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  s.address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return s;
}

/** An enrolled enforcer's credentials from `ca`. */
async function enforcerTls(ca: CertificateAuthority) {
  const { keyPem, csrPem } = await keyAndCsr('gw-1');
  const signed = await ca.signEnforcerCsr(csrPem, 'gw-1', 3600_000);
  return { caPem: ca.certificatePem, certPem: signed.certificatePem, keyPem };
}

/** A client whose channel stays idle (a standby made of it is never taken); no call is made on it. */
function idleClient(close = () => undefined as unknown): RawControlClient {
  const channel = { getConnectivityState: () => connectivityState.IDLE, watchConnectivityState: () => undefined };
  return { close, getChannel: () => channel } as unknown as RawControlClient;
}

/** Clients that only remember where they go and whether they were closed (no call is made on them here). */
function pool(controllers: string[], random = () => 0.5) {
  const made: { address: string; closed: boolean }[] = [];
  const p = new ControllerPool(controllers, {
    log,
    random,
    backoff: new Backoff(1000, 8000, random),
    makeClient: (address) => {
      const c = { address, closed: false };
      made.push(c);
      return idleClient(() => (c.closed = true));
    },
  });
  p.useTls({ caPem: 'ca', certPem: 'cert', keyPem: 'key' });
  return { p, made };
}

describe('controller pool', () => {
  it('moves to the next controller at once (a jitter under 250 ms), backs off after a whole round, and resets on success', () => {
    const { p, made } = pool(['10.0.0.1:7471', '10.0.0.2:7471', '10.0.0.3:7471']);
    const moves: string[] = [];
    p.onMove = (from, to) => moves.push(`${from}>${to}`);
    expect(p.current).toBe('10.0.0.1:7471');
    const w1 = p.failed('UNAVAILABLE');
    expect(p.current).toBe('10.0.0.2:7471');
    expect(w1).toBeLessThan(MOVE_JITTER_MS);
    expect(made.map((c) => c.address)).toEqual(['10.0.0.1:7471', '10.0.0.2:7471']);
    expect(made[0].closed).toBe(true); // the old client goes: its calls end, their loops reopen on the new one
    expect(p.failed('UNAVAILABLE')).toBeLessThan(MOVE_JITTER_MS);
    // The third failure completes a round: backoff (equal jitter: between cap/2 and cap).
    const w3 = p.failed('UNAVAILABLE');
    expect(p.current).toBe('10.0.0.1:7471');
    expect(w3).toBeGreaterThanOrEqual(500);
    expect(p.failed('x')).toBeLessThan(MOVE_JITTER_MS);
    p.failed('x');
    expect(p.failed('x')).toBeGreaterThanOrEqual(1000); // the second round failed: longer
    p.ok();
    expect(p.failed('x')).toBeLessThan(MOVE_JITTER_MS);
    expect(moves[0]).toBe('10.0.0.1:7471>10.0.0.2:7471');
  });

  it('with one controller, stays and backs off', () => {
    const { p } = pool(['10.0.0.1:7471']);
    expect(p.failed('x')).toBeGreaterThanOrEqual(500);
    expect(p.current).toBe('10.0.0.1:7471');
  });

  it('renewal makes a new client on the current controller and hands back the old one, still open', () => {
    const { p, made } = pool(['10.0.0.1:7471', '10.0.0.2:7471']);
    p.client();
    const old = p.useTls({ caPem: 'ca', certPem: 'cert2', keyPem: 'key2' });
    expect(old).not.toBeNull();
    expect(made.map((c) => [c.address, c.closed])).toEqual([['10.0.0.1:7471', false], ['10.0.0.1:7471', false]]);
  });

  it('a name is expanded to each of its addresses (localhost)', async () => {
    const { p } = pool(['localhost:7471', '10.0.0.9:7471']);
    await p.resolve();
    expect(p.addresses).toContain('10.0.0.9:7471');
    expect(p.addresses.some((a) => a === '127.0.0.1:7471' || a === '[::1]:7471')).toBe(true);
    expect(p.addresses).not.toContain('localhost:7471');
  });

  it("starts on the first controller given, and moves on in an order of the enforcer's own, so a dead controller's enforcers spread over the survivors", () => {
    const list = ['10.0.0.1:7471', '10.0.0.2:7471', '10.0.0.3:7471', '10.0.0.4:7471'];
    const landed = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const order = spreadOrder(list, `gw-${i}`);
      expect(order[0]).toBe(list[0]); // the operator's first choice stays first
      expect([...order].sort()).toEqual(list); // every controller, once
      expect(spreadOrder(list, `gw-${i}`)).toEqual(order); // the same at every start
      landed.set(order[1], (landed.get(order[1]) ?? 0) + 1);
    }
    // The first one dies: its 300 enforcers land on the three others, each about a third (binomial 300, 1/3: 100 +- 8).
    expect([...landed.keys()].sort()).toEqual(list.slice(1));
    for (const n of landed.values()) expect(n).toBeGreaterThan(70);
    expect(spreadOrder(list, undefined)).toEqual(list);
    const p = new ControllerPool(list, { log, seed: 'gw-7', makeClient: () => idleClient() });
    expect(p.addresses).toEqual(spreadOrder(list, 'gw-7'));
    p.useTls({ caPem: 'ca', certPem: 'cert', keyPem: 'key' });
    p.failed('UNAVAILABLE');
    expect(p.current).toBe(spreadOrder(list, 'gw-7')[1]);
    p.close();
  });

  it('keeps a connection to the next controller, and a move opens its streams on it: no TLS handshake at the move', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-pool-'));
    const ca = await CertificateAuthority.open(dir);
    const [a, b] = [await tlsController(ca), await tlsController(ca)];
    const p = new ControllerPool([a.address, b.address], { log, random: () => 0 });
    try {
      p.useTls(await enforcerTls(ca));
      p.client().getChannel().getConnectivityState(true);
      expect(p.standby.address).toBeNull(); // not before a controller accepted a stream
      p.ok();
      await until('connected to the first, a standby to the second', () => a.handshakes === 1 && b.handshakes === 1 && p.standby.ready());
      expect(p.standby.address).toBe(b.address);
      p.failed('UNAVAILABLE');
      expect(p.current).toBe(b.address);
      expect(p.standby.taken).toBe(1);
      // connected before the move: the standby's own connection, no new one
      expect(p.client().getChannel().getConnectivityState(false)).toBe(connectivityState.READY);
      // the next standby (back to the first) waits STANDBY_AFTER_MOVE_MS: none during a take-over
      expect(p.standby.address).toBe(a.address);
      await sleep(300);
      expect([a.handshakes, b.handshakes]).toEqual([1, 1]);
    } finally {
      p.close();
      await Promise.all([a.close(), b.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a standby that is not up when a move needs it is not used: the move makes a fresh client', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-pool-'));
    const ca = await CertificateAuthority.open(dir);
    const [a, b] = [await tlsController(ca), await tlsController(ca)];
    await b.close(); // nothing listens there now
    const p = new ControllerPool([a.address, b.address], { log, random: () => 0 });
    try {
      p.useTls(await enforcerTls(ca));
      p.client().getChannel().getConnectivityState(true);
      p.ok();
      await until('connected to the first', () => a.handshakes === 1);
      await sleep(300); // the standby's attempt refused
      expect(p.standby.ready()).toBe(false);
      p.failed('UNAVAILABLE');
      expect(p.current).toBe(b.address);
      expect(p.standby.taken).toBe(0);
      expect(p.client().getChannel().getConnectivityState(false)).not.toBe(connectivityState.READY);
    } finally {
      p.close();
      await a.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes the channel credentials once per certificate, not at every move', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-pool-'));
    try {
      const ca = await CertificateAuthority.open(dir);
      const { keyPem, csrPem } = await keyAndCsr('gw-1');
      const signed = await ca.signEnforcerCsr(csrPem, 'gw-1', 3600_000);
      const p = new ControllerPool(['127.0.0.1:1', '127.0.0.1:2'], { log, random: () => 0 });
      const tls = { caPem: ca.certificatePem, certPem: signed.certificatePem, keyPem };
      p.useTls(tls);
      const first = p.credentialsFor(tls);
      p.failed('UNAVAILABLE'); // a move: a new client, the same credentials
      expect(p.current).toBe('127.0.0.1:2');
      expect(p.credentialsFor(tls)).toBe(first);
      const renewed = { ...tls };
      p.useTls(renewed)?.close(); // a renewal: new credentials
      expect(p.credentialsFor(renewed)).not.toBe(first);
      p.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
