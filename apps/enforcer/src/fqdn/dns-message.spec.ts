// SPDX-License-Identifier: Apache-2.0
/** The DNS parser on well-formed answers (CNAME chains, A and AAAA) and on malformed ones, which must throw, never crash or learn. */
import { DnsFormatError, parseMessage, resolution, TYPE } from './dns-message';

const name = (n: string) => Buffer.concat([...n.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
const u16 = (v: number) => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number) => Buffer.from([v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
function rr(owner: Buffer, type: number, ttl: number, data: Buffer): Buffer {
  return Buffer.concat([owner, u16(type), u16(1), u32(ttl), u16(data.length), data]);
}
function answer(q: string, qtype: number, records: Buffer[], id = 0x1234): Buffer {
  return Buffer.concat([u16(id), u16(0x8180), u16(1), u16(records.length), u16(0), u16(0), name(q), u16(qtype), u16(1), ...records]);
}
const a = (...o: number[]) => Buffer.from(o);

describe('parseMessage and resolution', () => {
  it('follows a CNAME chain in any order to its A records, with the least TTL of the way', () => {
    const m = parseMessage(
      answer('www.vendor.example', TYPE.A, [
        rr(name('edge.cdn.example'), TYPE.A, 300, a(192, 0, 2, 7)),
        rr(name('www.vendor.example'), TYPE.CNAME, 30, name('edge.cdn.example')),
        rr(name('other.example'), TYPE.A, 300, a(198, 51, 100, 1)),
      ]),
    );
    expect(m).toMatchObject({ id: 0x1234, response: true, rcode: 0, questions: [{ name: 'www.vendor.example', type: TYPE.A }] });
    expect(resolution(m)).toEqual({ names: ['www.vendor.example', 'edge.cdn.example'], addresses: [{ address: '192.0.2.7', ttl: 30 }] });
  });

  it('reads AAAA records and compressed names, in lower case', () => {
    const q = answer('API.Example.com', TYPE.AAAA, []);
    // a pointer to the question's name at offset 12
    const rec = Buffer.concat([Buffer.from([0xc0, 12]), u16(TYPE.AAAA), u16(1), u32(60), u16(16), Buffer.from('20010db8000000000000000000000010', 'hex')]);
    const msg = Buffer.concat([q.subarray(0, 6), u16(1), q.subarray(8), rec]);
    expect(resolution(parseMessage(msg))).toEqual({ names: ['api.example.com'], addresses: [{ address: '2001:db8::10', ttl: 60 }] });
  });

  it('cuts CNAME loops and ignores answers of the other family', () => {
    const m = parseMessage(
      answer('a.example', TYPE.A, [rr(name('a.example'), TYPE.CNAME, 5, name('b.example')), rr(name('b.example'), TYPE.CNAME, 5, name('a.example')), rr(name('b.example'), TYPE.AAAA, 5, Buffer.alloc(16))]),
    );
    expect(resolution(m)).toEqual({ names: ['a.example', 'b.example'], addresses: [] });
  });

  it.each([
    ['a header cut short', Buffer.alloc(11)],
    ['a name past the end', Buffer.concat([answer('x.example', 1, []).subarray(0, 14)])],
    ['a forward pointer', Buffer.concat([u16(1), u16(0x8180), u16(1), u16(0), u16(0), u16(0), Buffer.from([0xc0, 20]), u16(1), u16(1)])],
    ['a pointer to itself', Buffer.concat([u16(1), u16(0x8180), u16(1), u16(0), u16(0), u16(0), Buffer.from([0xc0, 12]), u16(1), u16(1)])],
    ['a name over 255 bytes', answer(Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.'), 1, [])],
    ['record data past the end', answer('x.example', 1, [rr(name('x.example'), TYPE.A, 5, a(1, 2, 3, 4))]).subarray(0, -1)],
    ['an A record of 5 bytes', answer('x.example', 1, [rr(name('x.example'), TYPE.A, 5, a(1, 2, 3, 4, 5))])],
    ['a CNAME that does not fill its record', answer('x.example', 1, [rr(name('x.example'), TYPE.CNAME, 5, Buffer.concat([name('y.example'), a(0)]))])],
    ['a reserved label type', Buffer.concat([u16(1), u16(0x8180), u16(1), u16(0), u16(0), u16(0), Buffer.from([0x40, 0]), u16(1), u16(1)])],
    ['a label holding a dot', Buffer.concat([u16(1), u16(0x8180), u16(1), u16(0), u16(0), u16(0), Buffer.from([3]), Buffer.from('a.b'), name('com'), u16(1), u16(1)])],
    ['more answers than there are', Buffer.concat([answer('x.example', 1, []).subarray(0, 6), u16(3), answer('x.example', 1, []).subarray(8)])],
  ])('refuses %s', (_what, buf) => {
    expect(() => parseMessage(buf)).toThrow(DnsFormatError);
  });

  it('never throws anything but DnsFormatError on random bytes', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const base = answer('www.vendor.example', TYPE.A, [rr(name('www.vendor.example'), TYPE.CNAME, 30, name('edge.cdn.example')), rr(Buffer.from([0xc0, 12]), TYPE.A, 9, a(1, 2, 3, 4))]);
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        resolution(parseMessage(b.subarray(0, Math.floor(rnd() * b.length) + 1)));
      } catch (e) {
        expect(e).toBeInstanceOf(DnsFormatError);
      }
    }
  });
});
