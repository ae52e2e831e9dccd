// SPDX-License-Identifier: Apache-2.0
import { UnknownDevices } from './discovery';

const flow = (o: Record<string, unknown> = {}) => ({
  src: '10.0.1.9',
  dst: '10.0.2.2',
  sport: 40000,
  dport: 7001,
  protocol: 6,
  srcIdentity: 300,
  dstIdentity: 301,
  verdict: 'VERDICT_DENY',
  reason: 'DROP_REASON_POLICY',
  packetsFwd: 2,
  bytesFwd: 120,
  ifindex: 5,
  ...o,
});

describe('UnknownDevices', () => {
  it('a drop event before the flow records: listed with MAC and attempt; the records then count, once', () => {
    const u = new UnknownDevices();
    expect(u.observeEvent('gw-1', { src: '10.0.1.9', dst: '10.0.2.2', dport: 7001, protocol: 6, verdict: 'deny', mac: '02:AA:00:00:00:09', ifindex: 5, segment: 'lan', at: 1000 })).toBe(true);
    expect(u.get('10.0.1.9')).toMatchObject({ address: '10.0.1.9', mac: '02:aa:00:00:00:09', interface: 'ifindex 5', enforcer: 'gw-1', segment: 'lan', flows: 0, packets: 0, tried: ['10.0.2.2:7001/tcp deny'] });
    expect(u.observe('gw-1', flow(), 'lan', 1200)).toBe(false); // not new any more
    expect(u.get('10.0.1.9')).toMatchObject({ mac: '02:aa:00:00:00:09', flows: 1, packets: 2, denied: 2, tried: ['10.0.2.2:7001/tcp deny'] });
  });

  it('a drop event after the flow records fills in the MAC and keeps the counters', () => {
    const u = new UnknownDevices();
    expect(u.observe('gw-1', flow({ verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', dport: 7000 }), 'lan', 1000)).toBe(true);
    expect(u.get('10.0.1.9')!.mac).toBeNull();
    expect(u.observeEvent('gw-1', { src: '10.0.1.9', dst: '10.0.2.2', dport: 7001, protocol: 6, verdict: 'deny', mac: '02:00:00:00:00:09', segment: 'lan', at: 2000 })).toBe(false);
    expect(u.get('10.0.1.9')).toMatchObject({ mac: '02:00:00:00:00:09', flows: 1, tried: ['10.0.2.2:7000/tcp allow', '10.0.2.2:7001/tcp deny'], lastSeen: new Date(2000).toISOString() });
  });

  it('stays bounded in addresses and targets', () => {
    const u = new UnknownDevices(3, 2);
    for (let i = 0; i < 5; i++) u.observeEvent('gw-1', { src: `10.0.1.${i}`, dst: '10.0.2.2', dport: i, protocol: 17, verdict: 'deny', segment: 'world', at: i });
    expect(u.list().map((x) => x.address)).toEqual(['10.0.1.4', '10.0.1.3', '10.0.1.2']);
    for (let p = 0; p < 5; p++) u.observeEvent('gw-1', { src: '10.0.1.4', dst: '10.0.2.2', dport: 100 + p, protocol: 17, verdict: 'deny', segment: 'world', at: 10 });
    expect(u.get('10.0.1.4')!.tried).toHaveLength(2);
  });
});
