/**
 * API tokens have a life cycle (issue 11, hole 14): they expire (90d by
 * default, the bootstrap admin token too), can be listed and revoked (refused
 * from the next request on), the bootstrap admin token is rotated, every use is
 * recorded by last-used time. And the CLI keeps tokens off plain http:// to
 * other hosts (hole 16). Real controller on PGlite, real REST calls with real
 * tokens, the real `cordon` CLI as a process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TokensService } from '../../apps/controller/src/tokens/tokens.service';
import { runCordon } from '../support/site';
import { startTestController, type TestController } from './harness';

interface Row {
  id: number;
  name: string;
  kind: string;
  role: string;
  state: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  bootstrap: boolean;
}

describe('API token life cycle', () => {
  let t: TestController;
  const everyMs = TokensService.lastUsedEveryMs;
  const list = async (): Promise<Row[]> => (await t.call('GET', '/v1/tokens')).body.items;
  const row = async (id: number) => (await list()).find((r) => r.id === id)!;
  const cordon = (args: string[], env: NodeJS.ProcessEnv = {}) => runCordon(args, { env: { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken, ...env } });

  beforeAll(async () => {
    t = await startTestController('pglite');
  });
  afterAll(async () => {
    TokensService.lastUsedEveryMs = everyMs;
    await t?.close();
  });

  test('hole_14_api_tokens_and_the_bootstrap_admin_token_expire_by_default', async () => {
    const rows = await list();
    const boot = rows.find((r) => r.bootstrap)!;
    expect(boot).toMatchObject({ name: 'admin', role: 'admin', state: 'active' });
    const days = (iso: string | null) => (Date.parse(iso!) - Date.now()) / 86400_000;
    expect(days(boot.expiresAt)).toBeGreaterThan(89);
    expect(days(boot.expiresAt)).toBeLessThanOrEqual(90);
    const v = (await t.call('POST', '/v1/tokens', { role: 'viewer' })).body;
    expect(days(v.expiresAt)).toBeGreaterThan(89);
    const week = (await t.call('POST', '/v1/tokens', { role: 'viewer', ttl: '7d' })).body;
    expect(days(week.expiresAt)).toBeGreaterThan(6.9);
    expect((await t.call('POST', '/v1/tokens', { role: 'viewer', ttl: 'forever' })).status).toBe(400);
  });

  test('hole_14_a_revoked_token_gets_401_at_once', async () => {
    const v = (await t.call('POST', '/v1/tokens', { role: 'operator', name: 'ci-bot' })).body;
    expect((await t.call('GET', '/v1/segments', undefined, { token: v.token })).status).toBe(200);
    const r = await t.call('POST', `/v1/tokens/${v.id}/revoke`);
    expect(r).toMatchObject({ status: 200, body: { id: v.id, state: 'revoked' } });
    const after = await t.call('GET', '/v1/segments', undefined, { token: v.token });
    expect(after).toMatchObject({ status: 401, body: { detail: expect.stringMatching(/unknown, expired or revoked/) } });
    expect(await row(v.id)).toMatchObject({ state: 'revoked' });
    // By name, through the CLI; a second revoke finds nothing unrevoked by that name.
    const w = (await t.call('POST', '/v1/tokens', { role: 'viewer', name: 'dashboard' })).body;
    const cli = await cordon(['token', 'revoke', 'dashboard']);
    expect(cli).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`token ${w.id} \\("dashboard", api viewer\\) revoked`)) });
    expect((await t.call('GET', '/v1/segments', undefined, { token: w.token })).status).toBe(401);
    expect((await t.call('POST', '/v1/tokens/dashboard/revoke')).status).toBe(404);
    const audit = JSON.stringify((await t.call('GET', '/v1/audit?limit=500')).body.items);
    expect(audit).toContain('"action":"token.revoke","target":"ci-bot"');
  }, 60_000);

  test('hole_14_an_expired_token_gets_401', async () => {
    const v = (await t.call('POST', '/v1/tokens', { role: 'viewer', ttl: '2s' })).body;
    expect((await t.call('GET', '/v1/segments', undefined, { token: v.token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(v.expiresAt) - Date.now()) + 200));
    expect((await t.call('GET', '/v1/segments', undefined, { token: v.token })).status).toBe(401);
    expect(await row(v.id)).toMatchObject({ state: 'expired' });
  });

  test('hole_14_every_use_moves_last_used_with_throttled_writes', async () => {
    TokensService.lastUsedEveryMs = 500;
    const v = (await t.call('POST', '/v1/tokens', { role: 'viewer' })).body;
    expect((await row(v.id)).lastUsedAt).toBeNull();
    await t.call('GET', '/v1/segments', undefined, { token: v.token });
    const first = (await row(v.id)).lastUsedAt!;
    expect(Date.parse(first)).toBeGreaterThan(Date.now() - 10_000);
    // Within the interval: no write.
    await t.call('GET', '/v1/segments', undefined, { token: v.token });
    expect((await row(v.id)).lastUsedAt).toBe(first);
    await new Promise((r) => setTimeout(r, 600));
    await t.call('GET', '/v1/segments', undefined, { token: v.token });
    const second = (await row(v.id)).lastUsedAt!;
    expect(Date.parse(second)).toBeGreaterThan(Date.parse(first) + 400);
    TokensService.lastUsedEveryMs = everyMs;
  });

  test('hole_14_rotate_admin_replaces_the_bootstrap_token_and_the_last_admin_cannot_be_revoked', async () => {
    const old = t.adminToken;
    const boot = (await list()).find((r) => r.bootstrap && r.state === 'active')!;
    // The only admin token: revoking it would lock everyone out.
    expect((await t.call('POST', `/v1/tokens/${boot.id}/revoke`)).status).toBe(409);
    const cli = await cordon(['token', 'rotate-admin', '--ttl', '30d', '--output', 'json']);
    expect(cli.code).toBe(0);
    const fresh = JSON.parse(cli.stdout) as { token: string; expiresAt: string };
    expect(fs.readFileSync(path.join(t.dataDir, 'admin.token'), 'utf8').trim()).toBe(fresh.token);
    expect(fs.statSync(path.join(t.dataDir, 'admin.token')).mode & 0o777).toBe(0o600);
    expect((Date.parse(fresh.expiresAt) - Date.now()) / 86400_000).toBeGreaterThan(29.9);
    expect((await t.call('GET', '/v1/segments', undefined, { token: old })).status).toBe(401);
    const listed = await cordon(['token', 'list'], { CORDON_TOKEN: fresh.token });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+KIND\s+ROLE\s+STATE/);
    expect(listed.stdout).toMatch(new RegExp(`^${boot.id}\\s+admin \\(bootstrap\\)\\s+api\\s+admin\\s+revoked`, 'm'));
    const audit = (await t.call('GET', '/v1/audit?limit=500', undefined, { token: fresh.token })).body.items as Array<{ action: string }>;
    expect(audit.map((e) => e.action)).toContain('token.rotate-admin');
    t.adminToken = fresh.token;
  }, 60_000);

  test('hole_16_the_cli_refuses_to_send_a_token_over_plain_http_to_another_host', async () => {
    const port = new URL(t.url).port;
    // 0.0.0.0 is not a loopback address (connecting to it reaches this host on Linux, so --insecure stays local).
    const refused = await cordon(['get', 'segments', '--server', `http://0.0.0.0:${port}`]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to send the API token in clear to 0\.0\.0\.0:\d+ .*--insecure/);
    const fromEnv = await cordon(['get', 'segments'], { CORDON_SERVER: `http://0.0.0.0:${port}` });
    expect(fromEnv.code).toBe(2);
    const insecure = await cordon(['get', 'segments', '--server', `http://0.0.0.0:${port}`, '--insecure', '-o', 'json']);
    expect(insecure).toMatchObject({ code: 0 });
    expect(await cordon(['get', 'segments', '--server', `http://localhost:${port}`, '-o', 'json'])).toMatchObject({ code: 0 });
  }, 90_000);
});
