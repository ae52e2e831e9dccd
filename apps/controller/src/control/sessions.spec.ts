import { status as Status } from '@grpc/grpc-js';
import { Sessions, type OpenCall } from './sessions';

const later = new Date(Date.now() + 3600_000);
const call = (enforcer: string, kind: 'watch' | 'flows' = 'watch', pending = false): OpenCall & { cuts: string[] } => {
  const cuts: string[] = [];
  return { enforcer, serial: '01', kind, cut: (_c, d) => cuts.push(d), cuts, ...(pending ? { pending: true } : {}) };
};

describe('Sessions.connected (kept as calls come and go)', () => {
  it('counts admitted watches by enforcer: not flows, not pending ones, until the last watch of an enforcer ends', () => {
    const s = new Sessions();
    let changes = 0;
    s.onChange = () => changes++;
    const a1 = call('gw-a');
    const a2 = call('gw-a');
    const b = call('gw-b', 'watch', true);
    const f = call('gw-c', 'flows');
    const undoA1 = s.add(a1, later);
    s.add(a2, later);
    s.add(b, later);
    s.add(f, later);
    expect(s.connected()).toEqual(['gw-a']); // gw-b not yet admitted, gw-c has flows only
    s.admitted(b);
    expect(s.connected()).toEqual(['gw-a', 'gw-b']);
    s.admitted(b); // once
    undoA1();
    expect(s.connected()).toEqual(['gw-a', 'gw-b']); // a2 still open
    s.remove(a2);
    expect(s.connected()).toEqual(['gw-b']);
    expect(changes).toBe(7); // 4 adds, 1 admission, 2 removals
    s.connected().push('mutated');
    expect(s.connected()).toEqual(['gw-b']);
  });

  it('a pending watch cut before its admission is never counted, and its late admission counts nothing', () => {
    const s = new Sessions();
    const p = call('gw-r', 'watch', true);
    s.add(p, later);
    expect(s.cutEnforcer('gw-r', Status.PERMISSION_DENIED, 'revoked')).toBe(1);
    expect(p.cuts).toEqual(['revoked']);
    s.admitted(p);
    expect(s.connected()).toEqual([]);
    expect(s.has(p)).toBe(false);
  });

  it('cutAll empties it', () => {
    const s = new Sessions();
    for (const n of ['gw-2', 'gw-1', 'gw-3']) s.add(call(n), later);
    expect(s.connected()).toEqual(['gw-1', 'gw-2', 'gw-3']);
    s.cutAll(Status.UNAVAILABLE, 'bye');
    expect(s.connected()).toEqual([]);
  });
});
