// SPDX-License-Identifier: Apache-2.0
import { FqdnReporter, fqdnReport } from './fqdn-report';
import type { LearnedView } from './learned-names';

const view = (i: number, name = `n${i}.cloud.test`): LearnedView => ({ name, address: `10.0.${i >> 8}.${i & 255}`, expiresAt: 1_000_000 + i, selectors: ['*.cloud.test'] });

describe('fqdn report', () => {
  it('keeps the entries that expire last, within the count and the byte budget, and says how many there are', () => {
    const all = Array.from({ length: 50 }, (_, i) => view(i));
    const r = fqdnReport('gw', all, 10);
    expect(r.total).toBe(50);
    expect(r.names.map((n) => n.expiresAt)).toEqual(Array.from({ length: 10 }, (_, i) => 1_000_000 + 49 - i));
    const long = Array.from({ length: 20 }, (_, i) => view(i, `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.test`));
    const bytes = fqdnReport('gw', long, 1000, 2000);
    expect(bytes.names.length).toBeGreaterThan(0);
    expect(bytes.names.length).toBeLessThan(20);
    expect(bytes.total).toBe(20);
  });

  it('sends when the names changed, not otherwise; again after a move; and stops asking an older controller', async () => {
    const source = { changes: 1, list: () => [view(1)] };
    const sent: number[] = [];
    let old = 0;
    let refuse = false;
    const r = new FqdnReporter('gw', source, async (rep) => {
      if (refuse) throw Object.assign(new Error('unimplemented'), { code: 12 });
      sent.push(rep.names.length);
    }, () => old++);
    await r.tick();
    await r.tick();
    expect(sent).toEqual([1]);
    source.changes = 2;
    await r.tick();
    expect(sent).toEqual([1, 1]);
    r.reset();
    await r.tick();
    expect(sent).toEqual([1, 1, 1]);
    refuse = true;
    r.reset();
    await r.tick();
    await r.tick();
    expect(old).toBe(1);
    // another failure (the controller away) is the caller's to log, and the next tick tries again
    const failing = new FqdnReporter('gw', source, async () => {
      throw Object.assign(new Error('unavailable'), { code: 14 });
    }, () => old++);
    await expect(failing.tick()).rejects.toThrow('unavailable');
    await expect(failing.tick()).rejects.toThrow('unavailable');
  });
});
