// SPDX-License-Identifier: Apache-2.0
import { Leader } from './leader';

describe('Leader', () => {
  it('embedded (no session locks): leads at once and takes over exactly once, so the audit tail starts', async () => {
    let takeOvers = 0;
    const l = new Leader({ query: async () => [], exec: async () => undefined } as never, 1);
    expect(await l.leading(async () => void takeOvers++)).toBe(true);
    expect(await l.leading(async () => void takeOvers++)).toBe(true);
    expect(takeOvers).toBe(1);
    expect(l.isLeader).toBe(true);
  });
});
