// SPDX-License-Identifier: Apache-2.0
import { parseFqdnFlags } from './fqdn-config';

describe('parseFqdnFlags', () => {
  it('writes --dns-resolver addresses as Node reports an answer source (the proxy compares them as text), once each', () => {
    const problems: string[] = [];
    const cfg = parseFqdnFlags({ dnsResolver: ['2001:DB8:0:0::53', '2001:db8::53', '192.0.2.53'] }, problems);
    expect(problems).toEqual([]);
    expect(cfg.resolvers).toEqual(['2001:db8::53', '192.0.2.53']);
  });

  it('refuses what is not an address, naming it', () => {
    const problems: string[] = [];
    parseFqdnFlags({ dnsResolver: ['resolver.lan'] }, problems);
    expect(problems).toEqual(['--dns-resolver must be an IPv4 or IPv6 address, got "resolver.lan"']);
  });
});
