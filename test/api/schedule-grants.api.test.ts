/**
 * Schedules and grants through the REST API and the CLI, on a real controller
 * (PGlite): validation errors, trace --at, PolicyTests with at:, get policies'
 * schedule column, and the life of a grant (made, listed, refused when it would
 * open more than asked, revoked, expired and removed), each step in the audit log.
 */
import { runCordon } from '../support/site';
import { until } from '../support/wait';
import { startTestController, type TestController } from './harness';

const seg = (name: string, cidr: string) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs: [cidr] } });
const dev = (name: string, address: string, labels: Record<string, string> = {}) => ({ apiVersion: 'cordon/v1', kind: 'Device', metadata: { name, labels }, spec: { addresses: [address] } });
const SITE = [
  seg('laptops', '10.9.1.0/24'),
  seg('plcs', '10.9.2.0/24'),
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'vendor' }, spec: { selector: { role: 'vendor' } } },
  dev('laptop-1', '10.9.1.5'),
  dev('vendor-1', '10.9.3.7', { role: 'vendor' }),
  dev('plc-1', '10.9.2.10'),
  {
    apiVersion: 'cordon/v1',
    kind: 'Policy',
    metadata: { name: 'shift' },
    spec: { from: ['laptops'], to: ['plcs'], allow: [{ protocol: 'tcp', ports: [502] }], deny: [{ protocol: 'tcp', ports: [23] }], schedule: { timezone: 'Europe/Berlin', windows: ['Mon-Fri 07:00-19:00'] } },
  },
];
const WED_10 = '2026-12-02T10:00:00+01:00';
const WED_20 = '2026-12-02T20:00:00+01:00';

describe('schedules and grants (API, CLI)', () => {
  let t: TestController;
  const cli = (...args: string[]) => runCordon(args, { env: { CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken } });
  beforeAll(async () => {
    t = await startTestController('pglite');
    const r = await t.call('POST', '/v1/apply', { documents: SITE });
    expect(r.status).toBe(200);
  });
  afterAll(() => t?.close());

  it('refuses a bad schedule with the path and the reason of each error', async () => {
    const bad = { ...SITE[6], spec: { ...(SITE[6] as any).spec, schedule: { timezone: 'Mars/Olympus', windows: ['Fri-Mon 07:00-19:00', 'Mon 19:00-07:00'] } } };
    const r = await t.call('POST', '/v1/apply', { documents: [bad], dryRun: true });
    expect(r.status).toBe(400);
    const text = JSON.stringify(r.body);
    expect(text).toContain('spec.schedule.timezone');
    expect(text).toContain('unknown timezone \\"Mars/Olympus\\"');
    expect(text).toContain('spec.schedule.windows[0]');
    expect(text).toContain('write Fri-Sun,Mon');
    expect(text).not.toContain('Mon-Mon');
    expect(text).toContain('Fri comes after Mon');
    expect(text).toContain('the end 07:00 is not after the start 19:00');
  });

  it('trace --at judges with the schedule as it is then; the deny is never scheduled', async () => {
    const at = async (when: string, port: number) => (await t.call('POST', '/v1/trace', { from: 'laptop-1', to: 'plc-1', protocol: 'tcp', port, at: when })).body;
    const open = await at(WED_10, 502);
    expect(open).toMatchObject({ verdict: 'allow', policy: 'shift', at: '2026-12-02T09:00:00.000Z', schedule: { open: true, nextChange: '2026-12-02T18:00:00.000Z' } });
    const closed = await at(WED_20, 502);
    expect(closed).toMatchObject({ verdict: 'deny', policy: null, closedSchedule: { policy: 'shift', verdict: 'allow', nextChange: '2026-12-03T06:00:00.000Z' } });
    expect((await at(WED_10, 23)).verdict).toBe('deny');
    expect((await t.call('POST', '/v1/trace', { from: 'laptop-1', to: 'plc-1', protocol: 'tcp', port: 502, at: 'tomorrow' })).status).toBe(400);
    const c = await cli('trace', '--from', 'laptop-1', '--to', 'plc-1', '--port', '502', '--at', WED_20);
    expect(c.stdout).toContain('policy shift would allow, but its schedule is closed (opens 2026-12-03T06:00:00.000Z)');
  });

  it('PolicyTests may say at:, and fail when the schedule says otherwise', async () => {
    const test = (expectAt20: string) => ({
      apiVersion: 'cordon/v1',
      kind: 'PolicyTest',
      metadata: { name: 'shift-hours' },
      spec: [
        { from: 'laptop-1', to: 'plc-1', protocol: 'tcp', port: 502, at: WED_10, expect: 'allow' },
        { from: 'laptop-1', to: 'plc-1', protocol: 'tcp', port: 502, at: WED_20, expect: expectAt20 },
      ],
    });
    expect((await t.call('POST', '/v1/apply', { documents: [test('deny')], dryRun: true })).status).toBe(200);
    const r = await t.call('POST', '/v1/apply', { documents: [test('allow')], dryRun: true });
    expect(r.status).toBe(422);
    expect(r.body.failures).toEqual([expect.objectContaining({ index: 1, expected: 'allow', got: 'deny' })]);
    const noOffset = await t.call('POST', '/v1/apply', { documents: [{ ...test('deny'), spec: [{ ...test('deny').spec[0], at: '2026-12-02T10:00' }] }], dryRun: true });
    expect(noOffset.status).toBe(400);
  });

  it('get policies shows whether the schedule is open now and when it next changes', async () => {
    const r = await cli('get', 'policies');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SCHEDULE/);
    expect(r.stdout).toMatch(/shift .* (open|closed) until \d{4}-\d{2}-\d{2}T\d{2}:00:00Z/);
  });

  it('a grant: made with its reason, listed, judged open now, revoked early; all audited', async () => {
    const g = await cli('grant', '--from', 'vendor-1', '--to', 'plcs', '--protocol', 'tcp', '--port', '22', '--for', '2h', '--reason', 'ticket 4711', '-o', 'json');
    expect(g.code).toBe(0);
    const made = JSON.parse(g.stdout).grant;
    expect(made).toMatchObject({ from: 'vendor', to: 'plcs', protocol: 'tcp', port: 22, reason: 'ticket 4711', grantedBy: 'admin', open: true });
    expect(Date.parse(made.end) - Date.parse(made.start)).toBe(2 * 3600_000);
    const trace = (await t.call('POST', '/v1/trace', { from: 'vendor-1', to: 'plc-1', protocol: 'tcp', port: 22 })).body;
    expect(trace).toMatchObject({ verdict: 'allow', policy: made.name });
    expect((await t.call('POST', '/v1/trace', { from: 'vendor-1', to: 'plc-1', protocol: 'tcp', port: 22, at: new Date(Date.parse(made.end) + 1000).toISOString() })).body.verdict).toBe('deny');
    const list = await cli('get', 'grants');
    expect(list.stdout).toMatch(new RegExp(`${made.name}\\s+vendor\\s+plcs\\s+tcp/22\\s+open`));
    expect(list.stdout).toContain('ticket 4711');

    const rv = await cli('revoke', 'grant', made.name);
    expect(rv.code).toBe(0);
    expect((await t.call('GET', '/v1/grants')).body.items).toEqual([]);
    expect((await t.call('POST', '/v1/trace', { from: 'vendor-1', to: 'plc-1', protocol: 'tcp', port: 22 })).body.verdict).toBe('deny');
    const audit = (await t.call('GET', '/v1/audit?limit=20')).body.items as { action: string; target: string; diff: any }[];
    expect(audit.find((a) => a.action === 'grant.create' && a.target === `Policy/${made.name}`)?.diff).toMatchObject({ reason: 'ticket 4711', from: 'vendor-1', segments: { from: 'vendor', to: 'plcs' } });
    expect(audit.find((a) => a.action === 'grant.revoke' && a.target === `Policy/${made.name}`)?.diff).toMatchObject({ reason: 'ticket 4711' });
  });

  it('refuses a grant that would open more than asked, a missing reason, and a viewer', async () => {
    const shared = await t.call('POST', '/v1/grants', { from: 'laptop-1', to: 'plcs', protocol: 'tcp', port: 22, for: '1h', reason: 'x' });
    expect(shared.status).toBe(422);
    expect(shared.body.detail).toContain('device laptop-1 shares segment laptops with 1 other address(es) or network(s) (10.9.1.0/24)');
    expect((await t.call('POST', '/v1/grants', { from: 'vendor', to: 'plcs', for: '1h' })).status).toBe(400);
    expect((await t.call('POST', '/v1/grants', { from: 'vendor', to: 'plcs', for: '1y', reason: 'x' })).status).toBe(400);
    const viewer = (await t.call('POST', '/v1/tokens', { role: 'viewer' })).body.token;
    expect((await t.call('POST', '/v1/grants', { from: 'vendor', to: 'plcs', for: '1h', reason: 'x' }, { token: viewer })).status).toBe(403);
    expect((await t.call('GET', '/v1/grants', undefined, { token: viewer })).status).toBe(200);
  });

  it('an expired grant is removed by the controller, and the removal audited', async () => {
    const r = await t.call('POST', '/v1/grants', { from: 'vendor', to: 'plcs', protocol: 'tcp', port: 2222, for: '10s', reason: 'short one' });
    expect(r.status).toBe(201);
    const name = r.body.grant.name;
    await until('the expired grant to be removed', async () => (await t.call('GET', `/v1/policies/${name}`)).status === 404, 20_000, 200);
    const audit = (await t.call('GET', '/v1/audit?limit=20')).body.items as { action: string; target: string; actor: string; diff: any }[];
    expect(audit.find((a) => a.action === 'grant.expire' && a.target === `Policy/${name}`)).toMatchObject({ actor: 'grant-expiry', diff: { reason: 'short one' } });
  });
});
