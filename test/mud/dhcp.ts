// SPDX-License-Identifier: Apache-2.0
/** A DHCPv4 BOOTREQUEST as a client sends it: chaddr, the magic cookie, then options. */
export function dhcpv4(opts: { type: number; mac: string; url?: string; requested?: string; ciaddr?: string; split?: boolean }): Buffer {
  const head = Buffer.alloc(240);
  head[0] = 1;
  head[1] = 1;
  head[2] = 6;
  head.writeUInt32BE(0x3903f326, 4); // xid
  if (opts.ciaddr) Buffer.from(opts.ciaddr.split('.').map(Number)).copy(head, 12);
  Buffer.from(opts.mac.split(':').map((h) => parseInt(h, 16))).copy(head, 28);
  head.writeUInt32BE(0x63825363, 236);
  const o: number[] = [53, 1, opts.type];
  if (opts.requested) o.push(50, 4, ...opts.requested.split('.').map(Number));
  if (opts.url) {
    const u = [...Buffer.from(opts.url)];
    if (opts.split) o.push(161, 10, ...u.slice(0, 10), 12, 2, 0x68, 0x31, 161, u.length - 10, ...u.slice(10));
    else o.push(161, u.length, ...u);
  }
  o.push(55, 3, 1, 3, 6, 255);
  return Buffer.concat([head, Buffer.from(o)]);
}

