/**
 * Enrollment against the real controller (startController, real gRPC, real
 * certificates), issue 11 holes 9, 10 and 16 (reserved names):
 *  - the enforcer sends its token only to the controller its join string pins,
 *    a man in the middle with its own CA gets nothing;
 *  - a token takes only the name it was made for (or a new name), a live
 *    enforcer's name only with --replace, which revokes the replaced certificate;
 *  - no enforcer may be called cordon-controller.
 * No root, no addon.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startController } from '../../apps/controller/src/main';
import { CertificateAuthority } from '../../apps/controller/src/control/ca/certificate-authority';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { IdentityStore, enroll } from '../../apps/enforcer/src/identity';
import { controlClient, rpc } from '../../proto/cordon/v1/client';
import { BundleUpdate, controlService, CONTROL_GRPC, EnrollRequest } from '../../proto/cordon/v1/control';
import { parseJoin } from '../../proto/cordon/v1/join';
import { until } from '../support/site';

type Ctl = Awaited<ReturnType<typeof startController>>;

describe('enrollment: the CA pin, name binding and reserved names', () => {
  let dir: string;
  let ctl: Ctl;
  let admin: string;
  let n = 0;
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${ctl.url}${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
  };
  const newToken = async (opts: { name?: string; replace?: boolean } = {}) => {
    const r = await api('POST', '/v1/tokens', { kind: 'enrollment', ttl: '10m', ...opts });
    expect(r.status).toBe(201);
    return r.body as { token: string; join: string; caCertHash: string; id: number };
  };
  const tokenState = async (id: number) => ((await api('GET', '/v1/tokens')).body.items as Array<{ id: number; state: string; usedBy: string | null }>).find((t) => t.id === id)!;
  const stateDir = () => path.join(dir, `enf-${++n}`);
  /** A raw Enroll (what any gRPC client can send), with a fresh key. */
  const rawEnroll = async (token: string, name: string) => {
    const { keyPem, csrPem } = await keyAndCsr();
    const anon = controlClient(ctl.grpcAddress, { caPem: null });
    try {
      const res = await rpc.enroll(anon, { token, csrPem, name });
      return { ...res, keyPem };
    } finally {
      anon.close();
    }
  };
  const status = (name: string) => ({ enforcer: name, generation: 0, mapFill: {}, health: null, drops: [], version: 't', certificateExpiresAt: 0, droppedBatches: 0 });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-e2e-enroll-'));
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: path.join(dir, 'ctl'), logLevel: 'silent' });
    admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
  });
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('hole_9_token_create_prints_a_join_string_pinning_the_controller_ca', async () => {
    const t = await newToken();
    const ca = (await api('GET', '/v1/control/ca.pem')).body as string;
    const { createHash, X509Certificate } = await import('node:crypto');
    const hex = createHash('sha256').update(new X509Certificate(ca).raw).digest('hex');
    expect(t.caCertHash).toBe(`sha256:${hex}`);
    expect(t.join).toBe(`${t.token}.${hex}`);
    expect(parseJoin(t.join)).toEqual({ token: t.token, caHex: hex });
  });

  test('hole_9_a_wrong_pin_sends_no_token_and_says_why', async () => {
    const t = await newToken();
    const wrong = `${t.token}.${'ab'.repeat(32)}`;
    await expect(enroll({ controller: ctl.grpcAddress, token: wrong, name: 'gw-pin', store: new IdentityStore(stateDir()) })).rejects.toThrow(
      /presents the CA sha256:[0-9a-f]{64}, not the pinned sha256:(ab){32}: the enrollment token was not sent/,
    );
    expect(await tokenState(t.id)).toMatchObject({ state: 'active', usedBy: null }); // never reached Enroll
    // The same token with the right pin works: it was not spent.
    const c = await enroll({ controller: ctl.grpcAddress, token: t.join, name: 'gw-pin', store: new IdentityStore(stateDir()) });
    expect(c.name).toBe('gw-pin');
    expect(await tokenState(t.id)).toMatchObject({ state: 'used', usedBy: 'gw-pin' });
  });

  test('hole_9_a_man_in_the_middle_with_its_own_ca_receives_no_token', async () => {
    // The attacker: a Control server of its own, with a CA of its own, that records every Enroll.
    const evilCa = await CertificateAuthority.open(path.join(dir, 'evil'));
    const { certPem, keyPem } = await evilCa.issueServerCertificate();
    const received: string[] = [];
    const evil = new grpc.Server(CONTROL_GRPC.server);
    evil.addService(controlService(), {
      Enroll: (call: grpc.ServerUnaryCall<EnrollRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        received.push(call.request.token);
        cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      evil.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(certPem + evilCa.certificatePem), private_key: Buffer.from(keyPem) }], false), (e, p) => (e ? reject(e) : resolve(p))),
    );
    try {
      const t = await newToken();
      await expect(enroll({ controller: `127.0.0.1:${port}`, token: t.join, name: 'gw-mitm', store: new IdentityStore(stateDir()) })).rejects.toThrow(/not the pinned .*the enrollment token was not sent/);
      expect(received).toEqual([]);
      expect(await tokenState(t.id)).toMatchObject({ state: 'active' });
      // What the pin prevents: trusting the first server that answers (--insecure-skip-ca-check) hands it the token.
      await expect(enroll({ controller: `127.0.0.1:${port}`, token: t.token, name: 'gw-mitm', insecureSkipCaCheck: true, store: new IdentityStore(stateDir()) })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      expect(received).toEqual([t.token]);
    } finally {
      evil.forceShutdown();
    }
  });

  test('hole_9_no_pin_no_enrollment_unless_insecure_skip_ca_check', async () => {
    const t = await newToken();
    await expect(enroll({ controller: ctl.grpcAddress, token: t.token, name: 'gw-nopin', store: new IdentityStore(stateDir()) })).rejects.toThrow(
      /refusing to enroll without the controller's CA pin: pass the join string .* or --insecure-skip-ca-check/,
    );
    expect(await tokenState(t.id)).toMatchObject({ state: 'active' });
    // --ca-sha256 is a pin too, and the explicit opt-out still enrolls.
    const c = await enroll({ controller: ctl.grpcAddress, token: t.token, name: 'gw-nopin', caSha256: t.caCertHash, store: new IdentityStore(stateDir()) });
    expect(c.name).toBe('gw-nopin');
    const t2 = await newToken();
    const tofu = await enroll({ controller: ctl.grpcAddress, token: t2.token, name: 'gw-tofu', insecureSkipCaCheck: true, store: new IdentityStore(stateDir()) });
    expect(tofu.caPem).toBe((await api('GET', '/v1/control/ca.pem')).body);
  });

  test('hole_10_a_token_cannot_take_a_live_enforcers_name_and_replace_revokes_the_old_certificate', async () => {
    // The real gw-1, enrolled and watching its bundles.
    const first = await newToken({ name: 'gw-1' });
    const real = await enroll({ controller: ctl.grpcAddress, token: first.join, name: 'gw-1', store: new IdentityStore(stateDir()) });
    const realClient = controlClient(ctl.grpcAddress, { caPem: real.caPem, certPem: real.certPem, keyPem: real.keyPem });
    const watch = realClient.WatchBundles({ enforcer: 'gw-1', lastGeneration: 0, lastHash: '' });
    const ended = new Promise<grpc.ServiceError | null>((resolve) => {
      watch.on('error', (e: grpc.ServiceError) => resolve(e));
      watch.on('end', () => resolve(null));
    });
    watch.on('data', (_u: BundleUpdate) => undefined);
    await until('gw-1 connected', async () => ((await api('GET', '/v1/enforcers-connected')).body.items as Array<{ name: string }>).some((e) => e.name === 'gw-1'));

    // The attack: any other token, enrolling as gw-1.
    const anyToken = await newToken();
    await expect(rawEnroll(anyToken.token, 'gw-1')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/"gw-1" is taken.*may only take a new name/) });
    const otherName = await newToken({ name: 'gw-2' });
    await expect(rawEnroll(otherName.token, 'gw-1')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/for the enforcer "gw-2", not "gw-1"/) });
    const sameName = await newToken({ name: 'gw-1' });
    await expect(rawEnroll(sameName.token, 'gw-1')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/enrolled and live.*--replace/) });
    for (const t of [anyToken, otherName, sameName]) expect(await tokenState(t.id)).toMatchObject({ state: 'active' }); // a refusal spends nothing
    await expect(rpc.reportStatus(realClient, status('gw-1'))).resolves.toBeDefined(); // the real one is untouched
    // A token for a new name still works, and one bound to gw-2 enrolls gw-2.
    await expect(rawEnroll(anyToken.token, 'gw-3')).resolves.toMatchObject({ serial: expect.any(String) });
    await expect(rawEnroll(otherName.token, 'gw-2')).resolves.toMatchObject({ serial: expect.any(String) });

    // The operator replaces gw-1 on purpose: the old certificate is revoked and its stream cut.
    const replace = await newToken({ name: 'gw-1', replace: true });
    const next = await enroll({ controller: ctl.grpcAddress, token: replace.join, name: 'gw-1', store: new IdentityStore(stateDir()) });
    expect(await ended).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    realClient.close();
    const old = controlClient(ctl.grpcAddress, { caPem: real.caPem, certPem: real.certPem, keyPem: real.keyPem });
    await expect(rpc.reportStatus(old, status('gw-1'))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    old.close();
    const fresh = controlClient(ctl.grpcAddress, { caPem: next.caPem, certPem: next.certPem, keyPem: next.keyPem });
    await expect(rpc.reportStatus(fresh, status('gw-1'))).resolves.toBeDefined();
    fresh.close();
    const crl = (await api('GET', '/v1/control/crl.pem')).body as string;
    const { X509Crl } = await import('@peculiar/x509');
    expect(new X509Crl(crl).entries.map((e) => e.serialNumber.toLowerCase())).toContain(real.serial);
    const audit = JSON.stringify((await api('GET', '/v1/audit?limit=500')).body.items);
    expect(audit).toMatch(/"action":"enforcer.enroll","target":"gw-1"/);
  });

  test('hole_10_a_revoked_name_is_taken_back_only_with_a_token_made_for_it', async () => {
    const t = await newToken();
    await rawEnroll(t.token, 'gw-r');
    expect((await api('POST', '/v1/enforcers/gw-r/revoke')).status).toBe(200);
    const unbound = await newToken();
    await expect(rawEnroll(unbound.token, 'gw-r')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/"gw-r" is taken \(revoked\)/) });
    const bound = await newToken({ name: 'gw-r' });
    const res = await rawEnroll(bound.token, 'gw-r');
    const c = controlClient(ctl.grpcAddress, { caPem: res.caPem, certPem: res.certificatePem, keyPem: res.keyPem });
    await expect(rpc.reportStatus(c, status('gw-r'))).resolves.toBeDefined();
    c.close();
    expect((await api('POST', '/v1/tokens', { kind: 'enrollment', replace: true })).status).toBe(400); // replace needs a name
  });

  test('hole_16_no_enforcer_may_take_the_name_cordon_controller', async () => {
    const t = await newToken();
    for (const name of ['cordon-controller', 'controller', 'localhost']) {
      await expect(rawEnroll(t.token, name)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/is reserved/) });
    }
    expect(await tokenState(t.id)).toMatchObject({ state: 'active' });
    const r = await api('POST', '/v1/tokens', { kind: 'enrollment', name: 'cordon-controller' });
    expect(r).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/"cordon-controller" is reserved/) } });
  });
});
