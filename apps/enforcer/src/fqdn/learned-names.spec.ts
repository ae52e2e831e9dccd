// SPDX-License-Identifier: Apache-2.0
/** The learned-name store's bookkeeping: what it writes to the datapath, its caps and eviction order, expiry and restore. */
import type { FqdnEntry } from '../../../../native/lib/fqdn-maps';
import { LearnedNames, type FqdnSink } from './learned-names';
import { FQDN_SELECTORS } from '../../../../native/lib/abi';

class MapSink implements FqdnSink {
  readonly map = new Map<string, FqdnEntry>();
  writeFqdn(entries: readonly FqdnEntry[]) {
    for (const e of entries) this.map.set(e.address, e);
  }
  deleteFqdn(addresses: readonly string[]) {
    let n = 0;
    for (const a of addresses) n += this.map.delete(a) ? 1 : 0;
    return n;
  }
}

const S = 1_000_000_000n;
function store(opts: Partial<ConstructorParameters<typeof LearnedNames>[1]> = {}) {
  const sink = new MapSink();
  let t = 1000n * S;
  const names = new LearnedNames(sink, { minTtlS: 60, maxAddresses: 100, maxPerName: 10, lingerS: 3600, now: () => t, ...opts });
  names.setSelectors(
    [
      { pattern: '*.cloud.example', identity: 300 },
      { pattern: 'api.cloud.example', identity: 301 },
    ],
    new Set([301]),
  );
  return { sink, names, advance: (s: number) => (t += BigInt(s) * S), now: () => t };
}

describe('LearnedNames', () => {
  it('writes every matching selector of the chain, denies first, with expiry at least the minimum TTL', () => {
    const { sink, names, now } = store();
    expect(names.learn(['www.vendor.example', 'api.cloud.example'], [{ address: '192.0.2.1', ttl: 5 }])).toBe(1);
    expect(sink.map.get('192.0.2.1')).toEqual({ address: '192.0.2.1', expiresNs: now() + 60n * S, selectors: [301, 300] });
    names.learn(['x.cloud.example'], [{ address: '192.0.2.2', ttl: 600 }]);
    expect(sink.map.get('192.0.2.2')).toMatchObject({ expiresNs: now() + 600n * S, selectors: [300] });
  });

  it('keeps nothing of names no selector matches', () => {
    const { sink, names } = store();
    expect(names.learn(['other.example'], [{ address: '192.0.2.9', ttl: 300 }])).toBe(0);
    expect(sink.map.size).toBe(0);
    expect(names.addressCount).toBe(0);
  });

  it('caps a name and the total, evicting the oldest learned first and counting it', () => {
    const { sink, names } = store({ maxPerName: 3, maxAddresses: 5 });
    for (let i = 1; i <= 4; i++) names.learn(['a.cloud.example'], [{ address: `192.0.2.${i}`, ttl: 60 }]);
    expect([...sink.map.keys()].sort()).toEqual(['192.0.2.2', '192.0.2.3', '192.0.2.4']);
    // a refresh makes an entry young again
    names.learn(['a.cloud.example'], [{ address: '192.0.2.2', ttl: 60 }]);
    names.learn(['a.cloud.example'], [{ address: '192.0.2.5', ttl: 60 }]);
    expect([...sink.map.keys()].sort()).toEqual(['192.0.2.2', '192.0.2.4', '192.0.2.5']);
    for (let i = 1; i <= 4; i++) names.learn([`n${i}.cloud.example`], [{ address: `198.51.100.${i}`, ttl: 60 }]);
    expect(sink.map.size).toBe(5);
    expect(names.addressCount).toBe(5);
    expect(names.evictions).toBe(2 + 2);
  });

  it('an address two names share stays while either holds it, until both go', () => {
    const { sink, names, advance } = store({ lingerS: 10 });
    names.learn(['a.cloud.example'], [{ address: '192.0.2.7', ttl: 60 }]);
    advance(50);
    names.learn(['api.cloud.example'], [{ address: '192.0.2.7', ttl: 60 }]);
    expect(sink.map.get('192.0.2.7')!.selectors).toEqual([301, 300]);
    advance(25); // a.cloud.example's entry expired 15 s ago, past the linger
    expect(names.collect()).toBe(1);
    expect(sink.map.get('192.0.2.7')!.selectors).toEqual([301, 300]); // api.cloud.example matches *.cloud.example too
    advance(60);
    expect(names.collect()).toBe(1);
    expect(sink.map.has('192.0.2.7')).toBe(false);
  });

  it('a new generation rewrites the selectors of what it holds', () => {
    const { sink, names } = store();
    names.learn(['a.cloud.example'], [{ address: '192.0.2.8', ttl: 60 }]);
    names.setSelectors([{ pattern: 'a.cloud.example', identity: 400 }], new Set());
    expect(sink.map.get('192.0.2.8')!.selectors).toEqual([400]);
    names.setSelectors([], new Set());
    expect(sink.map.has('192.0.2.8')).toBe(false);
  });

  it('a restart under a lower cap deletes the addresses it evicts from the pinned map too (no orphans the store forgets)', () => {
    const a = store();
    for (let i = 0; i < 5; i++) a.names.learn([`h${i}.cloud.example`], [{ address: `192.0.2.${20 + i}`, ttl: 60 }]);
    const b = store({ maxAddresses: 3 });
    for (const e of a.sink.map.values()) b.sink.map.set(e.address, e); // the pinned map survives the restart
    b.names.restore(a.names.persisted(), [...a.sink.map.values()]);
    expect([...b.sink.map.keys()].sort()).toEqual(['192.0.2.22', '192.0.2.23', '192.0.2.24']);
  });

  it('an address matching more selectors than the datapath holds keeps every deny and drops allows first, and counts it', () => {
    const { sink, names } = store();
    const chain = Array.from({ length: 8 }, (_, i) => `n${i}.chain.example`);
    names.setSelectors(chain.map((pattern, i) => ({ pattern, identity: 500 + i })), new Set([506, 507]));
    names.learn(chain, [{ address: '192.0.2.30', ttl: 60 }]);
    const written = sink.map.get('192.0.2.30')!.selectors;
    expect(written).toHaveLength(FQDN_SELECTORS);
    expect(written.slice(0, 2)).toEqual([506, 507]);
    expect(names.overflows).toBe(1);
  });

  it('an answer no pattern matches allows nothing and is not listed, but names the address for flow records (bounded)', () => {
    const { sink, names } = store({ maxAddresses: 3 });
    expect(names.learn(['other.example'], [{ address: '198.51.100.1', ttl: 300 }])).toBe(0);
    expect(sink.map.size).toBe(0);
    expect(names.addressCount).toBe(0);
    expect(names.list()).toEqual([]);
    expect(names.nameOf('198.51.100.1')).toBe('other.example');
    // a learned name wins over a seen one for the same address
    names.learn(['a.cloud.example'], [{ address: '198.51.100.1', ttl: 60 }]);
    expect(names.nameOf('198.51.100.1')).toBe('a.cloud.example');
    // bounded: the oldest seen go first
    for (let i = 2; i <= 6; i++) names.learn([`n${i}.other.example`], [{ address: `198.51.100.${i}`, ttl: 300 }]);
    expect(names.nameOf('198.51.100.2')).toBeUndefined();
    expect(names.nameOf('198.51.100.6')).toBe('n6.other.example');
  });

  it('restores its snapshot and adopts what the pinned map holds beyond it', () => {
    const a = store();
    a.names.learn(['a.cloud.example'], [{ address: '192.0.2.10', ttl: 60 }]);
    const saved = a.names.persisted();
    const pinned = [...a.sink.map.values(), { address: '192.0.2.11', expiresNs: a.now() + 30n * S, selectors: [300] }];
    const b = store();
    b.names.restore(saved, pinned);
    expect([...b.sink.map.keys()].sort()).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(b.names.nameOf('192.0.2.10')).toBe('a.cloud.example');
    expect(b.names.list().map((v) => [v.name, v.address, v.selectors])).toEqual([
      ['', '192.0.2.11', ['*.cloud.example']],
      ['a.cloud.example', '192.0.2.10', ['*.cloud.example']],
    ]);
  });
});
