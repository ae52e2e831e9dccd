import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../ca/certificate-authority';
import { FlowAggregator } from '../flows/flow-aggregator';
import { MemoryGenerations, MemoryControlStore, keyAndCsr } from '../testing/fakes';
import { ControlServer } from './control.server';
import { controlClient, rpc, RawControlClient } from '../../../../../proto/cordon/v1/client';
import { BundleUpdate, EnforcerStatus, FlowBatch } from '../../../../../proto/cordon/v1/control';
import { deltaFromWire, fromSnapshot } from '../../../../../proto/cordon/v1/bundle';
import type { Bundle } from '../../../../../model/generation/bundle';
import { applyDelta } from '../../../../../model/generation/delta';
import { bundleHash } from '../../../../../model/generation/digest';

const log = pino({ level: 'silent' });

function status(name: string, generation = 0): EnforcerStatus {
  return { enforcer: name, generation, mapFill: {}, health: null, drops: [], version: 'test', certificateExpiresAt: 0, droppedBatches: 0 };
}
const bundle = (generation: number, extra: number[] = []) => ({
  generation,
  identities: { sensors: 256, broker: 257, ...Object.fromEntries(extra.map((i) => [`s${i}`, 300 + i])) },
  ipcache: [{ cidr: '10.10.1.0/24', identity: 256 }, { cidr: '10.10.9.1/32', identity: 257 }, ...extra.map((i) => ({ cidr: `10.20.${i}.0/24`, identity: 300 + i }))],
  policy: [{ srcIdentity: 256, dstIdentity: 257, protocol: 6, port: 8883, portPrefixLen: 16, verdict: 1 as const, ruleId: 1 }],
  rules: [{ ruleId: 1, policy: 'sensors-to-broker', action: 'allow' as const, index: 0, mode: 'enforce' as const }],
  warnings: [],
});

/** Collects a watch stream's messages and its end. */
function watch(c: RawControlClient, req: { enforcer: string; lastGeneration?: number; lastHash?: string }) {
  const got: BundleUpdate[] = [];
  const call = c.WatchBundles({ enforcer: req.enforcer, lastGeneration: req.lastGeneration ?? 0, lastHash: req.lastHash ?? '' });
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('end', () => resolve(null));
  });
  call.on('data', (u: BundleUpdate) => got.push(u));
  const next = async (n: number, ms = 5000) => {
    const t0 = Date.now();
    while (got.length < n) {
      if (Date.now() - t0 > ms) throw new Error(`only ${got.length} of ${n} updates`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return got[n - 1];
  };
  return { call, got, ended, next };
}

describe('Control gRPC server over mTLS on loopback', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let store: MemoryControlStore;
  let bundles: MemoryGenerations;
  let server: ControlServer;
  let registry: Registry;
  let addr: string;
  const clients: RawControlClient[] = [];
  const client = (t: Parameters<typeof controlClient>[1]) => {
    const c = controlClient(addr, t);
    clients.push(c);
    return c;
  };

  async function enroll(name: string, ttlMs?: number) {
    const token = `tok-${name}-${Math.random()}`;
    store.addToken(token, ttlMs);
    const { keyPem, csrPem } = await keyAndCsr();
    const res = await rpc.enroll(client({ caPem: null }), { token, csrPem, name });
    const c = client({ caPem: res.caPem, certPem: res.certificatePem, keyPem });
    return { res, keyPem, c, token };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-ctl-'));
    ca = await CertificateAuthority.open(dir);
  });
  beforeEach(async () => {
    store = new MemoryControlStore();
    bundles = new MemoryGenerations();
    registry = new Registry();
    server = new ControlServer({ ca, store, generations: bundles, log, flows: new FlowAggregator(registry, bundles) });
    const port = await server.listen('127.0.0.1:0');
    addr = `127.0.0.1:${port}`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('enrolls with a valid one-time token once, never twice', async () => {
    store.addToken('t1');
    const { csrPem } = await keyAndCsr('not-the-name');
    const c = client({ caPem: null });
    const res = await rpc.enroll(c, { token: 't1', csrPem, name: 'gw-1' });
    expect(res.certificatePem).toContain('BEGIN CERTIFICATE');
    expect(res.caPem).toBe(ca.certificatePem);
    expect(res.expiresAt).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(store.enforcers.get('gw-1')?.certSerial).toBe(res.serial);
    await expect(rpc.enroll(c, { token: 't1', csrPem, name: 'gw-2' })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('refuses expired and unknown tokens, and does not spend a token on a bad CSR', async () => {
    store.addToken('old', -1000);
    const { csrPem } = await keyAndCsr();
    const c = client({ caPem: null });
    await expect(rpc.enroll(c, { token: 'old', csrPem, name: 'gw-1' })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(rpc.enroll(c, { token: 'nope', csrPem, name: 'gw-1' })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    store.addToken('good');
    await expect(rpc.enroll(c, { token: 'good', csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', name: 'gw-1' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(rpc.enroll(c, { token: 'good', csrPem, name: 'Bad Name!' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(rpc.enroll(c, { token: 'good', csrPem, name: 'gw-1' })).resolves.toMatchObject({ serial: expect.any(String) });
  });

  it('accepts mTLS calls from an enrolled enforcer, and renews its certificate', async () => {
    const { c, res } = await enroll('gw-1');
    await expect(rpc.reportStatus(c, status('gw-1'))).resolves.toMatchObject({ receivedAt: expect.any(Number) });
    await expect(rpc.reportStatus(c, status('gw-2'))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    const { keyPem, csrPem } = await keyAndCsr();
    const renewed = await rpc.renew(c, { csrPem });
    expect(renewed.serial).not.toBe(res.serial);
    const c2 = client({ caPem: renewed.caPem, certPem: renewed.certificatePem, keyPem });
    await expect(rpc.reportStatus(c2, status('gw-1'))).resolves.toBeDefined();
  });

  it('sends no TLS session ticket that carries the session (no client resumes one; each costs a copy of the session)', async () => {
    const tickets = await new Promise<number[]>((resolve, reject) => {
      const sizes: number[] = [];
      const s = tls.connect({ host: '127.0.0.1', port: Number(addr.split(':')[1]), ca: ca.certificatePem, servername: 'cordon-controller', ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
      s.on('session', () => sizes.push(s.getTLSTicket()?.length ?? 0));
      s.on('error', reject);
      // TLS 1.3 tickets come after the handshake, with the server's first flight of data (its HTTP/2 settings)
      s.on('secureConnect', () => s.once('data', () => setTimeout(() => (s.destroy(), resolve(sizes)), 200)));
    });
    // SSL_OP_NO_TICKET: in TLS 1.3 OpenSSL still sends tickets, but stateful ones (a session id, 32 bytes), not the
    // session encrypted (an i2d and a d2i of it, the certificate's key decoded again: 150+ bytes)
    expect(tickets.length).toBeGreaterThan(0);
    for (const t of tickets) expect(t).toBeLessThanOrEqual(32);
  });

  it('refuses calls without a certificate, with a certificate from another CA, or expired', async () => {
    const anon = client({ caPem: ca.certificatePem });
    await expect(rpc.reportStatus(anon, status('gw-1'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const w = watch(anon, { enforcer: 'gw-1' });
    expect(await w.ended).toMatchObject({ code: grpc.status.UNAUTHENTICATED });

    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-ca-other-'));
    const other = await CertificateAuthority.open(otherDir);
    const { keyPem, csrPem } = await keyAndCsr();
    const foreign = await other.signEnforcerCsr(csrPem, 'gw-1', 3600_000);
    const fc = client({ caPem: ca.certificatePem, certPem: foreign.certificatePem, keyPem });
    await expect(rpc.reportStatus(fc, status('gw-1'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(rpc.renew(fc, { csrPem })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    fs.rmSync(otherDir, { recursive: true, force: true });

    // A certificate that expires in 61 s, checked after it has (notBefore is 60 s back for skew).
    const k = await keyAndCsr();
    const short = await ca.signEnforcerCsr(k.csrPem, 'gw-1', 1000);
    await new Promise((r) => setTimeout(r, 1200));
    const ec = client({ caPem: ca.certificatePem, certPem: short.certificatePem, keyPem: k.keyPem });
    await expect(rpc.reportStatus(ec, status('gw-1'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it('revocation refuses the certificate and cuts the open stream at once', async () => {
    bundles.publish(bundle(1));
    const { c } = await enroll('gw-1');
    const w = watch(c, { enforcer: 'gw-1' });
    await w.next(1);
    expect(server.sessions.connected()).toEqual(['gw-1']);
    const t0 = Date.now();
    const r = await server.revoke('gw-1');
    expect(r.callsCut).toBe(1);
    expect(await w.ended).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(server.sessions.connected()).toEqual([]);
    await expect(rpc.reportStatus(c, status('gw-1'))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    const w2 = watch(c, { enforcer: 'gw-1' });
    expect(await w2.ended).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('takes an enforcer\'s learned names (ReportFqdn) whole, and refuses a bad or foreign report without keeping any of it', async () => {
    const { c } = await enroll('gw-1');
    const names = [{ name: 'api.cloud.test', address: '192.0.2.10', expiresAt: Date.now() + 60_000, selectors: ['*.cloud.test'] }];
    await expect(rpc.reportFqdn(c, { enforcer: 'gw-1', names, total: 1 })).resolves.toMatchObject({ receivedAt: expect.any(Number) });
    expect(store.learnedNames.get('gw-1')).toEqual({ total: 1, names });
    const bad = (n: object, problem: RegExp) => expect(rpc.reportFqdn(c, { enforcer: 'gw-1', names: [{ ...names[0], ...n }], total: 1 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(problem) });
    await bad({ address: 'not-an-address' }, /names\[0\]\.address/);
    await bad({ name: 'UPPER..case' }, /names\[0\]\.name/);
    await bad({ selectors: Array.from({ length: 65 }, () => 'x') }, /selectors/);
    await expect(rpc.reportFqdn(c, { enforcer: 'gw-1', names, total: 0 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(rpc.reportFqdn(c, { enforcer: 'gw-2', names: [], total: 0 })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect(store.learnedNames.get('gw-1')).toEqual({ total: 1, names });
    expect(store.learnedNames.has('gw-2')).toBe(false);
  });

  it('answers garbage with INVALID_ARGUMENT and oversized messages with RESOURCE_EXHAUSTED, and keeps serving', async () => {
    const anon = client({ caPem: ca.certificatePem });
    const { controlCredentials } = await import('../../../../../proto/cordon/v1/client');
    const { CONTROL_GRPC } = await import('../../../../../proto/cordon/v1/control');
    const big = new grpc.Client(addr, controlCredentials({ caPem: ca.certificatePem }), { ...CONTROL_GRPC.client, 'grpc.max_send_message_length': -1 });
    const raw = (method: string, bytes: Buffer) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        anon.makeUnaryRequest(`/cordon.v1.Control/${method}`, (b: Buffer) => b, (b: Buffer) => b, bytes, (err) => resolve(err)),
      );
    // Field 1, length-delimited, length 2^32-1: cannot decode.
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    expect(await raw('Enroll', garbage)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(await raw('ReportStatus', garbage)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const oversized = await new Promise<grpc.ServiceError | null>((resolve) =>
      big.makeUnaryRequest('/cordon.v1.Control/Enroll', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(5 * 1024 * 1024, 0x41), (err) => resolve(err)),
    );
    big.close();
    expect(oversized).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    // Not even TLS: random bytes on the socket.
    await new Promise<void>((resolve) => {
      const s = require('node:net').connect(server.port, '127.0.0.1', () => s.end(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff\xfe')));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    // TLS, then garbage instead of HTTP/2.
    await new Promise<void>((resolve) => {
      const s = tls.connect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => s.write(Buffer.alloc(4096, 0xee)));
      const done = () => {
        s.destroy();
        resolve();
      };
      s.on('close', done);
      s.on('error', done);
      setTimeout(done, 500);
    });
    store.addToken('after');
    const { csrPem } = await keyAndCsr();
    await expect(rpc.enroll(anon, { token: 'after', csrPem, name: 'gw-9' })).resolves.toBeDefined();
  });

  it('streams a snapshot, then deltas; resumes from a known generation with a delta', async () => {
    bundles.publish(bundle(1));
    const { c } = await enroll('gw-1');
    const w = watch(c, { enforcer: 'gw-1' });
    const first = await w.next(1);
    expect(first.body).toBe('snapshot');
    let state: Bundle = fromSnapshot(first.generation, first.hash, first.snapshot!);
    expect(bundleHash(state)).toBe(first.hash);
    expect(state.rules).toEqual([{ ruleId: 1, policy: 'sensors-to-broker', action: 'allow', index: 0, mode: 'enforce' }]);

    for (const g of [2, 3]) {
      bundles.publish(bundle(g, Array.from({ length: g }, (_, i) => i)));
      const u = await w.next(g);
      expect(u.body).toBe('delta');
      expect(u.delta!.baseGeneration).toBe(g - 1);
      // applyDelta checks the digest of what it builds against the update's.
      state = applyDelta(state, deltaFromWire(u.delta!, u.generation, u.hash));
      expect(bundleHash(state)).toBe(u.hash);
      expect(state).toEqual(await bundles.get(g));
    }
    w.call.cancel();

    // Resume from generation 2: one delta to 3.
    const b2 = await bundles.get(2);
    const r = watch(c, { enforcer: 'gw-1', lastGeneration: 2, lastHash: b2!.hash });
    const u = await r.next(1);
    expect(u).toMatchObject({ body: 'delta', generation: 3 });
    expect(u.delta!.baseGeneration).toBe(2);
    // Already current: nothing is sent until a new generation.
    const cur = watch(c, { enforcer: 'gw-1', lastGeneration: 3, lastHash: (await bundles.get(3))!.hash });
    await new Promise((res) => setTimeout(res, 200));
    expect(cur.got).toHaveLength(0);
    // A hash mismatch or unknown generation gets a snapshot.
    const bad = watch(c, { enforcer: 'gw-1', lastGeneration: 2, lastHash: 'other' });
    expect((await bad.next(1)).body).toBe('snapshot');
    const unknown = watch(c, { enforcer: 'gw-1', lastGeneration: 99 });
    expect((await unknown.next(1)).body).toBe('snapshot');
    for (const x of [r, cur, bad, unknown]) x.call.cancel();
  });

  it('aggregates flow batches into segment-pair metrics', async () => {
    bundles.publish(bundle(1));
    await bundles.latest();
    const { c } = await enroll('gw-1');
    const ack = await new Promise<unknown>((resolve, reject) => {
      const s = c.ReportFlows(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res)));
      const batch: FlowBatch = {
        enforcer: 'gw-1',
        seq: 1,
        generation: 1,
        windowStart: Date.now() - 1000,
        windowEnd: Date.now(),
        droppedBatches: 0,
        flows: [
          { src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, protocol: 6, family: 4, srcIdentity: 256, dstIdentity: 257, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', ruleId: 1, packetsFwd: 3, bytesFwd: 300, packetsRev: 2, bytesRev: 200, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 2 },
        ],
        pairs: [
          { srcIdentity: 256, dstIdentity: 257, srcSegment: 'x', dstSegment: 'y', verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', packets: 5, bytes: 500 },
          { srcIdentity: 256, dstIdentity: 1, srcSegment: 'x', dstSegment: 'y', verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packets: 7, bytes: 700 },
        ],
      };
      s.write(batch);
      s.write({ ...batch, seq: 2, flows: [], pairs: [batch.pairs[0]] });
      s.end();
    });
    expect(ack).toEqual({ batches: 2, lastSeq: 2, duplicate: false });
    const text = await registry.metrics();
    expect(text).toContain('cordon_flow_packets_total{src_segment="sensors",dst_segment="broker",verdict="allow"} 10');
    expect(text).toContain('cordon_flow_bytes_total{src_segment="sensors",dst_segment="world",verdict="deny"} 700');
    expect(text).toContain('cordon_drops_total{reason="policy"} 7');
    const flows = server['d'].flows.list();
    expect(flows[0]).toMatchObject({ enforcer: 'gw-1', srcSegment: 'sensors', dstSegment: 'broker', verdict: 'allow', packets: 5, bytes: 500 });
  });
});
