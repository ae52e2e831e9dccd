// SPDX-License-Identifier: Apache-2.0
import { execFileSync } from 'node:child_process';
import { IDENTITY } from '../../../native/lib/abi';
import { hostAddresses, withHostEntries } from './host-addresses';

describe('host addresses', () => {
  const ns = `chost-${process.pid}`;
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', '10.99.0.1/24', 'dev', 'd0']);
    execFileSync('ip', ['-n', ns, '-6', 'addr', 'add', 'fd00:99::1/64', 'dev', 'd0', 'nodad']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'd0', 'up']);
  });
  afterAll(() => execFileSync('ip', ['netns', 'del', ns]));

  test('reads the addresses of another namespace, loopback excepted', () => {
    const addrs = hostAddresses(`/run/netns/${ns}`);
    expect(addrs).toEqual(expect.arrayContaining(['10.99.0.1', 'fd00:99::1']));
    expect(addrs).not.toContain('127.0.0.1');
    expect(addrs).not.toContain('::1');
  });

  test('own addresses become host routes, replacing the same prefix from the bundle', () => {
    const merged = withHostEntries(
      [
        { cidr: '10.99.0.0/24', identity: 300 },
        { cidr: '10.99.0.1/32', identity: 301 },
      ],
      ['10.99.0.1', 'fd00:99::1'],
    );
    expect(merged).toEqual([
      { cidr: '10.99.0.0/24', identity: 300 },
      { cidr: '10.99.0.1/32', identity: IDENTITY.HOST },
      { cidr: 'fd00:99::1/128', identity: IDENTITY.HOST },
    ]);
  });
});
