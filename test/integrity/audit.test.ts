/**
 * Hole 15: audit gaps. Enroll, renew, revoke and monitoring-settings changes write
 * entries (real gRPC with real certificates, REST with the admin token); the
 * chain is verified outside the controller (`cordon audit export | cordon audit
 * verify --offline`), and signed checkpoints taken from the event stream detect
 * a database whose audit table was rewritten from its first entry with a
 * consistent new chain (which the controller's own verify cannot see).
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../apps/cli/src/cli';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { AUDIT_GENESIS, auditEntryHash, type AuditEntry } from '../../apps/controller/src/store/store';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';
import { rpc } from '../../proto/cordon/v1/client';
import { SITE } from '../api/fixtures';
import { enrollEnforcer } from './enroll';

jest.setTimeout(60_000);

describe('hole 15: the audit log', () => {
  let dir: string;
  let ctl: RunningController;
  let admin: string;
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${ctl.url}${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: /^[[{]/.test(text) ? JSON.parse(text) : text };
  };
  const cli = (...args: string[]) => runCli([...args, '--server', ctl.url, '--token', admin], { env: {} });
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-audit-'));
    const quiet = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dir, logLevel: 'silent' });
    } finally {
      process.stderr.write = quiet;
    }
    admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
  });
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('15_audit_entries: enroll, renew, revoke and settings changes are in the chain', async () => {
    const e = await enrollEnforcer(ctl, admin, 'gw-audit');
    const c = e.client();
    const { csrPem } = await keyAndCsr();
    await rpc.renew(c, { csrPem });
    c.close();
    expect((await api('POST', '/v1/enforcers/gw-audit/revoke')).status).toBe(200);
    expect((await api('PUT', '/v1/monitoring/settings', { deniedBurst: 40 })).status).toBe(200);
    const items = (await api('GET', '/v1/audit?limit=500')).body.items as AuditEntry[];
    const actions = items.map((x) => `${x.action} ${x.target}`);
    expect(actions).toEqual(expect.arrayContaining(['enforcer.enroll gw-audit', 'enforcer.renew gw-audit', 'enforcer.revoke gw-audit', 'monitoring.settings monitoring/settings']));
    expect(items.find((x) => x.action === 'enforcer.renew')?.diff).toMatchObject({ previous: e.serial });
  });

  it('15_offline_verify_and_checkpoints: export | verify --offline passes, and a rewrite from the start is caught by the signed checkpoints', async () => {
    expect((await api('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
    const cp1 = await api('POST', '/v1/audit/checkpoint');
    expect(cp1.status).toBe(200);
    expect((await api('PUT', '/v1/monitoring/settings', { deniedBurst: 41 })).status).toBe(200);
    expect((await api('POST', '/v1/audit/checkpoint')).body.lastId).toBeGreaterThan(cp1.body.lastId);

    // What a SIEM kept: the checkpoint events of the stream.
    const events = (await api('GET', '/v1/events?type=audit&limit=1000')).body.items as { action: string }[];
    const cps = events.filter((x) => x.action === 'audit-checkpoint');
    expect(cps.length).toBeGreaterThanOrEqual(2);
    const cpFile = path.join(dir, 'checkpoints.jsonl');
    fs.writeFileSync(cpFile, cps.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, (await api('GET', '/v1/control/ca.pem')).body);

    const exportTo = async (f: string) => {
      const r = await cli('audit', 'export');
      expect(r.code).toBe(0);
      fs.writeFileSync(f, r.stdout);
    };
    const good = path.join(dir, 'export-1.jsonl');
    await exportTo(good);
    const ok = await runCli(['audit', 'verify', '--offline', '--file', good, '--checkpoints', cpFile, '--ca', caFile, '-o', 'json'], { env: {} });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, checkpoints: cps.length });

    // The attacker rewrites the whole table: entry 1 says someone else did it, every hash recomputed.
    const rows = (await ctl.store.sql.query<Record<string, unknown>>('select * from audit order by id')).map((r) => ({
      id: Number(r.id), at: String(r.at), actor: String(r.actor), source: (r.source as string | null) ?? null, action: String(r.action), target: (r.target as string | null) ?? null, diff: r.diff ?? null,
    }));
    rows[0].actor = 'nobody';
    let prev = AUDIT_GENESIS;
    for (const r of rows) {
      const hash = auditEntryHash(prev, r);
      await ctl.store.sql.query('update audit set actor = $2, prev_hash = $3, hash = $4 where id = $1', [r.id, r.actor, prev, hash]);
      prev = hash;
    }
    await ctl.store.sql.query('update audit_head set last_id = $1, hash = $2', [rows[rows.length - 1].id, prev]);
    // Consistent: the database alone cannot tell.
    expect((await api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
    const rewritten = path.join(dir, 'export-2.jsonl');
    await exportTo(rewritten);
    expect((await runCli(['audit', 'verify', '--offline', '--file', rewritten], { env: {} })).code).toBe(0);

    // The signed checkpoints can.
    const caught = await runCli(['audit', 'verify', '--offline', '--file', rewritten, '--checkpoints', cpFile, '--ca', caFile], { env: {} });
    expect(caught.code).toBe(1);
    expect(caught.stdout).toMatch(/differs from the signed checkpoint .*rewritten/);
    // A forged checkpoint (not signed by the CA) is refused too.
    const forged = path.join(dir, 'forged.jsonl');
    fs.writeFileSync(forged, JSON.stringify({ lastId: rows.length, hash: prev, at: new Date().toISOString(), signature: Buffer.alloc(64, 1).toString('base64') }) + '\n');
    const f = await runCli(['audit', 'verify', '--offline', '--file', rewritten, '--checkpoints', forged, '--ca', caFile], { env: {} });
    expect(f.code).toBe(1);
    expect(f.stdout).toMatch(/not signed by this CA/);
  });
});
