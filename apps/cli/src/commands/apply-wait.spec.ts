import type { Client } from '../context';
import { formatWait, waitEnforced } from './apply-wait';

/** GET /v1/enforcers answers, one per poll (the last repeats). */
function answering(pages: Array<Array<{ name: string; lastSeen: string | null; generation: number | null; revoked?: boolean; connected?: boolean }>>): Client {
  let i = 0;
  return {
    json: async () => ({ items: pages[Math.min(i++, pages.length - 1)].map((e) => ({ revoked: false, ...e })) }),
  } as unknown as Client;
}

describe('cordon apply --wait', () => {
  const now = new Date().toISOString();
  it('returns when every connected enforcer reports the generation; revoked and long-silent ones are not waited for', async () => {
    const old = new Date(Date.now() - 120_000).toISOString();
    const c = answering([
      [{ name: 'gw-a', lastSeen: now, generation: 4 }, { name: 'gw-b', lastSeen: now, generation: 5 }, { name: 'gw-gone', lastSeen: old, generation: 1 }, { name: 'gw-rev', lastSeen: now, generation: 1, revoked: true }],
      [{ name: 'gw-a', lastSeen: now, generation: 5 }, { name: 'gw-b', lastSeen: now, generation: 5 }, { name: 'gw-gone', lastSeen: old, generation: 1 }],
    ]);
    const w = await waitEnforced(c, 5, 5000, 10);
    expect(w).toMatchObject({ timedOut: false, enforced: ['gw-a', 'gw-b'], behind: [] });
    expect(formatWait(w)).toMatch(/^enforced by 2 enforcer\(s\) in [\d.]+ s: gw-a, gw-b\n$/);
  });

  it('on timeout names those that did not, with the generation each enforces', async () => {
    const c = answering([[{ name: 'gw-a', lastSeen: now, generation: 5 }, { name: 'gw-slow', lastSeen: now, generation: 3 }]]);
    const w = await waitEnforced(c, 5, 100, 10);
    expect(w).toMatchObject({ timedOut: true, enforced: ['gw-a'], behind: [{ name: 'gw-slow', generation: 3 }] });
    expect(formatWait(w)).toMatch(/not every connected enforcer enforces generation 5 after [\d.]+ s:\n  gw-slow: generation 3\nenforced by: gw-a\n/);
  });

  it('from a controller with the fleet status: only enforcers whose stream is open are waited for, however recent their last status', async () => {
    const c = answering([[{ name: 'gw-a', lastSeen: now, generation: 5, connected: true }, { name: 'gw-just-gone', lastSeen: now, generation: 3, connected: false }]]);
    const w = await waitEnforced(c, 5, 5000, 10);
    expect(w).toMatchObject({ timedOut: false, enforced: ['gw-a'], behind: [] });
  });

  it('with no enforcer connected, says so and does not wait', async () => {
    const w = await waitEnforced(answering([[]]), 2, 60_000, 10);
    expect(w.timedOut).toBe(false);
    expect(formatWait(w)).toBe('no enforcer is connected: nothing to wait for\n');
  });
});
