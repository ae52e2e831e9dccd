/**
 * Hole 16 (settings): PUT /v1/monitoring/settings refuses values that would hang
 * the controller (a 1 ms tick is a busy loop; a tick past ~24.8 days overflows
 * setTimeout and fires at once, the same loop; a huge scanDistinct sizes a table
 * per device) with a 400 that names the field and its bounds, and every accepted
 * change is audited.
 */
import { startTestController, type TestController } from '../api/harness';

describe('hole 16: monitoring settings', () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController('pglite');
  });
  afterAll(async () => t?.close());

  it('16_settings_bounds: hanging values are refused with the bounds; a good change is audited', async () => {
    const before = (await t.call('GET', '/v1/monitoring/settings')).body;
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ tick: 1 }, /tick must be between 100ms and 1h/],
      [{ tick: '30d' }, /tick must be between 100ms and 1h/],
      [{ interval: 2 ** 31 + 5 }, /interval must be between 1s and 1d/],
      [{ dropSummary: 0 }, /dropSummary must be between 1s and 1d/],
      [{ scanWindow: 1e300 }, /scanWindow must be between/],
      [{ learningWindow: '9999d' }, /learningWindow must be between 1s and 365d/],
      [{ scanDistinct: 1e9 }, /scanDistinct must be an integer from 2 to 40/],
      [{ deniedBurst: 0.5 }, /deniedBurst must be an integer/],
      [{ volumeScore: Infinity }, /volumeScore/],
    ];
    for (const [body, why] of bad) {
      const r = await t.call('PUT', '/v1/monitoring/settings', body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(r.body.detail).toMatch(why);
    }
    // Nothing changed.
    const same = (await t.call('GET', '/v1/monitoring/settings')).body;
    expect({ ...same, siem: undefined }).toEqual({ ...before, siem: undefined });
    // Still responsive after all that, and a good change is applied and audited.
    const ok = await t.call('PUT', '/v1/monitoring/settings', { tick: '500ms', scanDistinct: 30 });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ tickMs: 500, scanDistinct: 30 });
    const audit = (await t.call('GET', '/v1/audit?limit=500')).body.items as { action: string; diff: any }[];
    const e = audit.find((x) => x.action === 'monitoring.settings');
    expect(e?.diff).toMatchObject({ changed: { tickMs: { from: before.tickMs, to: 500 }, scanDistinct: { from: before.scanDistinct, to: 30 } } });
  });
});
