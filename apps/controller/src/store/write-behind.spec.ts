/**
 * WriteBehind: one flush at a time, and at most one waiting — a flush slower
 * than the interval (the worst-case load of observed-flows.repository.ts)
 * runs back to back with the next, never building a queue of them; a flush
 * asked for while one runs still sees what changed before it was asked.
 */
import { WriteBehind } from './write-behind';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('WriteBehind', () => {
  it('a flush slower than the interval: no queue of flushes builds up, and none overlaps another', async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    const w = new WriteBehind(
      async () => {
        overlapped ||= running > 0;
        running++;
        runs++;
        await sleep(60);
        running--;
      },
      10,
      (err) => {
        throw err;
      },
    );
    w.start();
    await sleep(300);
    const asked = w.flush(); // waits behind the running one, with every tick since
    let done = false;
    void asked.then(() => (done = true));
    await w.stop();
    expect(done).toBe(true);
    expect(overlapped).toBe(false);
    // ~30 ticks in 300 ms, yet only the flushes that fit ran: 300/60 + the waiting one + stop's.
    expect(runs).toBeLessThanOrEqual(8);
  });

  it('a flush asked for while one runs starts after it and sees what changed before it was asked', async () => {
    const seen: number[] = [];
    let value = 0;
    const w = new WriteBehind(
      async () => {
        const v = value;
        await sleep(30);
        seen.push(v);
      },
      60_000,
      () => undefined,
    );
    const first = w.flush();
    await sleep(5);
    value = 1;
    const second = w.flush();
    const third = w.flush(); // the same as the second: it has not started yet
    expect(third).toBe(second);
    await Promise.all([first, second]);
    expect(seen).toEqual([0, 1]);
    await w.stop();
  });

  it('durable(): resolves after a flush that started after the call succeeded; not on a flush already running, not on a failed one', async () => {
    const written: number[] = [];
    let value = 0;
    let fail = false;
    const w = new WriteBehind(
      async () => {
        const v = value; // the snapshot, at the flush's start
        await sleep(30);
        if (fail) throw new Error('store down');
        written.push(v);
      },
      60_000,
      () => undefined,
    );
    const running = w.flush();
    await sleep(5);
    value = 1; // fed after the running flush took its snapshot
    let settled = false;
    const d = w.durable();
    void d.then(() => (settled = true));
    expect(w.durable()).toBe(d); // every caller until the next flush starts shares one promise
    await running;
    await sleep(0);
    expect(written).toEqual([0]);
    expect(settled).toBe(false); // the running flush did not write value 1

    fail = true;
    await w.flush();
    await sleep(0);
    expect(settled).toBe(false); // a failed flush settles nothing

    fail = false;
    await w.flush();
    await d;
    expect(written).toEqual([0, 1]);
    await w.stop();
  });
});
