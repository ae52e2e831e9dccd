import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { status as S } from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import pino from 'pino';
import { CertificateAuthority } from '../ca/certificate-authority';
import { keyAndCsr, MemoryControlStore } from '../testing/fakes';
import { PeerAuth } from './peer-auth';

jest.setTimeout(60_000);

/** A store that counts its enforcer reads. */
class CountingStore extends MemoryControlStore {
  reads = 0;
  async getEnforcer(name: string) {
    this.reads++;
    return super.getEnforcer(name);
  }
}
const callWith = (pem: string | null) => ({ getAuthContext: () => ({ sslPeerCertificate: pem ? { raw: Buffer.from(new x509.X509Certificate(pem).rawData) } : undefined }) });

describe('PeerAuth: who calls, with one read of the store', () => {
  const dirs: string[] = [];
  const tmp = () => dirs[dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-pa-'))) - 1];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  let ca: CertificateAuthority;
  let store: CountingStore;
  let auth: PeerAuth;
  const enroll = async (name: string, on = ca, ttl = 3600_000) => {
    const s = await on.signEnforcerCsr((await keyAndCsr(name)).csrPem, name, ttl);
    await store.upsertEnforcer(name, s.serial);
    return s;
  };
  /** The certificate's notAfter (to the second, as in the certificate). */
  const sec = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
  const refusal = (p: Promise<unknown>) => p.then(() => null, (e: { code: number; details: string }) => ({ code: e.code, details: e.details }));
  beforeEach(async () => {
    ca = await CertificateAuthority.open(tmp());
    store = new CountingStore();
    auth = new PeerAuth(ca, store, pino({ level: 'silent' }));
  });

  it('accepts an enrolled enforcer: identify() reads nothing of the store, authenticate() its row once', async () => {
    const s = await enroll('gw-1');
    const id = await auth.identify(callWith(s.certificatePem));
    expect(id).toEqual({ peer: { name: 'gw-1', serial: s.serial, notAfter: sec(s.notAfter) }, issuedElsewhere: false });
    expect(store.reads).toBe(0);
    expect(await auth.authenticate(callWith(s.certificatePem))).toEqual(id.peer);
    expect(store.reads).toBe(1);
    const cuts: number[] = [];
    expect(await auth.admitRegistered(id, (c) => cuts.push(c))).toBe(true);
    expect([store.reads, cuts]).toEqual([2, []]);
  });

  it('refuses a missing, foreign, expired or wrong-kind certificate before any read', async () => {
    const other = await CertificateAuthority.open(tmp());
    const foreign = await other.signEnforcerCsr((await keyAndCsr('gw-1')).csrPem, 'gw-1', 3600_000);
    expect(await refusal(auth.identify(callWith(null)))).toMatchObject({ code: S.UNAUTHENTICATED });
    expect(await refusal(auth.authenticate(callWith(foreign.certificatePem)))).toEqual({ code: S.UNAUTHENTICATED, details: 'client certificate refused: bad-signature' });
    const server = await ca.issueServerCertificate();
    expect(await refusal(auth.authenticate(callWith(server.certPem)))).toEqual({ code: S.UNAUTHENTICATED, details: 'client certificate refused: wrong-kind' });
    const short = await enroll('gw-2', ca, 1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await refusal(auth.authenticate(callWith(short.certificatePem)))).toEqual({ code: S.UNAUTHENTICATED, details: 'client certificate refused: expired' });
    expect(store.reads).toBe(0);
  });

  it('refuses a revoked certificate (the CA list) and a revoked enforcer (its row, revoked by any controller)', async () => {
    const s = await enroll('gw-1');
    await ca.revokeName('gw-1');
    expect(await refusal(auth.authenticate(callWith(s.certificatePem)))).toEqual({ code: S.PERMISSION_DENIED, details: 'client certificate refused: revoked' });
    const t = await enroll('gw-2');
    const id = await auth.identify(callWith(t.certificatePem)); // registered, then revoked elsewhere before its read
    await store.revokeEnforcer('gw-2');
    const cuts: [number, string][] = [];
    expect(await auth.admitRegistered(id, (c, d) => cuts.push([c, d]))).toBe(false);
    expect(cuts).toEqual([[S.PERMISSION_DENIED, 'enforcer gw-2 is revoked: enroll it again with a new token']]);
  });

  it('a certificate another controller of the site issued (same CA): admitted only as the enforcer\'s current, unrevoked one', async () => {
    // A second controller with the same CA key and certificate and lists of its own (nothing shared).
    const dir = tmp();
    fs.cpSync(ca.dir, path.join(dir, 'ca'), { recursive: true });
    const elsewhere = await CertificateAuthority.open(dir);
    const s = await enroll('gw-1', elsewhere);
    const id = await auth.identify(callWith(s.certificatePem));
    expect(id.issuedElsewhere).toBe(true);
    expect(store.reads).toBe(0);
    expect(await auth.authenticate(callWith(s.certificatePem))).toEqual({ name: 'gw-1', serial: s.serial, notAfter: sec(s.notAfter) });
    expect(store.reads).toBe(1); // one read answers both questions
    await store.upsertEnforcer('gw-1', 'ab'.repeat(16)); // renewed since: not its current certificate
    expect(await refusal(auth.authenticate(callWith(s.certificatePem)))).toEqual({ code: S.UNAUTHENTICATED, details: 'client certificate refused: unknown' });
    await store.upsertEnforcer('gw-1', s.serial);
    await store.revokeEnforcer('gw-1');
    expect(await refusal(auth.authenticate(callWith(s.certificatePem)))).toEqual({ code: S.PERMISSION_DENIED, details: 'client certificate refused: unknown' });
    const u = await elsewhere.signEnforcerCsr((await keyAndCsr('gw-3')).csrPem, 'gw-3', 3600_000); // no row at all
    expect(await refusal(auth.authenticate(callWith(u.certificatePem)))).toMatchObject({ code: S.UNAUTHENTICATED });
  });
});
