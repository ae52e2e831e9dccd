/**
 * The control channel inside the real controller (startController): enrollment
 * with a token made over REST, bundles after an apply, revocation over REST
 * cutting the stream. No root, no addon.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startController } from '../../apps/controller/src/main';
import { controlClient, rpc } from '../../proto/cordon/v1/client';
import { BundleUpdate } from '../../proto/cordon/v1/control';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { until } from '../support/wait';

describe('control channel in the running controller', () => {
  let dir: string;
  let ctl: Awaited<ReturnType<typeof startController>>;
  let grpcAddr: string;
  let admin: string;
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${ctl.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-e2e-ctl-'));
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dir, logLevel: 'silent', certTtl: '2h' });
    grpcAddr = ctl.grpcAddress;
    admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
  });
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls with a REST-made token, streams a bundle after apply, and a REST revoke cuts the stream', async () => {
    const tok = await api('POST', '/v1/tokens', { kind: 'enrollment', ttl: '10m' });
    expect(tok.status).toBeLessThan(300);
    const { keyPem, csrPem } = await keyAndCsr();
    const res = await rpc.enroll(controlClient(grpcAddr, { caPem: null }), { token: tok.body.token, csrPem, name: 'gw-e2e' });
    // --cert-ttl 2h reaches the CA (a minute of slack for clock and backdating).
    expect(Math.abs(Number(res.expiresAt) - (Date.now() + 2 * 3600_000))).toBeLessThan(120_000);
    const ca = await api('GET', '/v1/control/ca.pem');
    expect(ca.body).toBe(res.caPem);
    const c = controlClient(grpcAddr, { caPem: res.caPem, certPem: res.certificatePem, keyPem });

    const got: BundleUpdate[] = [];
    const call = c.WatchBundles({ enforcer: 'gw-e2e', lastGeneration: 0, lastHash: '' });
    const ended = new Promise<grpc.ServiceError | null>((resolve) => {
      call.on('error', (e: grpc.ServiceError) => resolve(e));
      call.on('end', () => resolve(null));
    });
    call.on('data', (u: BundleUpdate) => got.push(u));

    const docs = [
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: ['10.10.9.0/24'] } },
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 's2b' }, spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['8883'] }] } },
    ];
    const applied = await api('POST', '/v1/apply', { documents: docs, dryRun: false });
    expect(applied.status).toBeLessThan(300);
    const t0 = Date.now();
    while (got.length === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(got[0]).toMatchObject({ body: 'snapshot' });
    expect(Object.keys(got[0].snapshot!.identities)).toEqual(expect.arrayContaining(['sensors', 'broker']));
    expect(got[0].snapshot!.policy.length).toBeGreaterThan(0);

    // The connected set is told every 50 ms (control/sessions.ts), not at each stream.
    const metrics = await until('the stream counted connected', async () => {
      const m = await fetch(`${ctl.url}/metrics`).then((r) => r.text());
      return /cordon_enforcers_connected 1/.test(m) ? m : undefined;
    }, 2000);
    expect(metrics).toMatch(/cordon_enforcers_connected 1/);

    const rv = await api('POST', '/v1/enforcers/gw-e2e/revoke');
    expect(rv).toMatchObject({ status: 200, body: { revoked: true, streamsCut: 1 } });
    expect(await ended).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    c.close();
    const audit = await api('GET', '/v1/audit');
    expect(JSON.stringify(audit.body)).toContain('enforcer.revoke');
    expect((await api('POST', '/v1/enforcers/nobody/revoke')).status).toBe(404);
    expect((await api('GET', '/v1/flows')).body).toMatchObject({ items: [] });
  });
});

describe('the running controller refuses expired certificates and bad messages (--cert-ttl 5s)', () => {
  let dir: string;
  let ctl: Awaited<ReturnType<typeof startController>>;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-e2e-ttl-'));
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dir, logLevel: 'silent', certTtl: '5s' });
  });
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a fresh certificate, refuses it once expired, answers garbage and oversized messages and keeps serving', async () => {
    const admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    const token = async () =>
      ((await fetch(`${ctl.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'enrollment', ttl: '10m' }) }).then((r) => r.json())) as { token: string }).token;
    const { keyPem, csrPem } = await keyAndCsr();
    const anon = controlClient(ctl.grpcAddress, { caPem: null });
    const res = await rpc.enroll(anon, { token: await token(), csrPem, name: 'gw-ttl' });
    expect(Number(res.expiresAt) - Date.now()).toBeLessThan(6000);
    const c = controlClient(ctl.grpcAddress, { caPem: res.caPem, certPem: res.certificatePem, keyPem });
    const status = { enforcer: 'gw-ttl', generation: 0, mapFill: {}, health: null, drops: [], version: 't', certificateExpiresAt: Number(res.expiresAt), droppedBatches: 0 };
    await expect(rpc.reportStatus(c, status)).resolves.toBeDefined();

    // Garbage and oversized messages while we wait for the certificate to expire.
    const raw = (method: string, bytes: Buffer, client: grpc.Client) =>
      new Promise<grpc.ServiceError | null>((resolve) => client.makeUnaryRequest(`/cordon.v1.Control/${method}`, (b: Buffer) => b, (b: Buffer) => b, bytes, (err) => resolve(err)));
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    expect(await raw('Enroll', garbage, anon)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(await raw('ReportStatus', garbage, c)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const { controlCredentials } = await import('../../proto/cordon/v1/client');
    const { CONTROL_GRPC } = await import('../../proto/cordon/v1/control');
    const big = new grpc.Client(ctl.grpcAddress, controlCredentials({ caPem: res.caPem }), { ...CONTROL_GRPC.client, 'grpc.max_send_message_length': -1 });
    expect(await raw('Enroll', Buffer.alloc(5 * 1024 * 1024, 0x41), big)).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    big.close();

    await new Promise((r) => setTimeout(r, Math.max(0, Number(res.expiresAt) - Date.now() + 1000)));
    // A new connection (TLS checks the dates at the handshake), with the now expired certificate.
    const expired = controlClient(ctl.grpcAddress, { caPem: res.caPem, certPem: res.certificatePem, keyPem });
    await expect(rpc.reportStatus(expired, status)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expired.close();
    c.close();
    // Still serving.
    const k2 = await keyAndCsr();
    await expect(rpc.enroll(anon, { token: await token(), csrPem: k2.csrPem, name: 'gw-ttl2' })).resolves.toBeDefined();
    anon.close();
  }, 30_000);
});
