import { addressText as abiAddressText } from '../../../../native/lib/encode';
// SPDX-License-Identifier: Apache-2.0
/**
 * The few parts of a DNS message (RFC 1035 §4) the proxy needs: the header,
 * the question, and the answer section's A, AAAA and CNAME records. Every read
 * is bounds-checked; compression pointers must point backwards (so they cannot
 * loop) and a name is at most 255 bytes. Anything malformed throws
 * DnsFormatError: the proxy then learns nothing from the message.
 */
export const TYPE = { A: 1, CNAME: 5, AAAA: 28 } as const;
export const CLASS_IN = 1;
const MAX_NAME_WIRE = 255;
const MAX_RECORDS = 512;

export class DnsFormatError extends Error {}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface AnswerRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A and AAAA: the address; CNAME: the target name; other types: undefined. */
  data?: string;
}

export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: number;
  truncated: boolean;
  rcode: number;
  questions: Question[];
  answers: AnswerRecord[];
}

function fail(what: string): never {
  throw new DnsFormatError(what);
}

/** A name at `off`: its text (lower case, no trailing dot) and where the record continues. */
function readName(buf: Buffer, off: number): { name: string; next: number } {
  const labels: string[] = [];
  let wire = 0;
  let pos = off;
  let next = -1;
  for (let hops = 0; ; hops++) {
    if (pos >= buf.length) fail('a name runs past the end of the message');
    const len = buf[pos];
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) fail('a compression pointer is cut short');
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (target >= pos) fail('a compression pointer points forward');
      if (hops > 127) fail('too many compression pointers');
      if (next < 0) next = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) fail('a label has a reserved type');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) fail('a name is longer than 255 bytes');
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) fail('a label runs past the end of the message');
    for (let i = pos + 1; i <= pos + len; i++) {
      // a dot inside a label would read as two labels: "a.b" under com is not a.b.com
      if (buf[i] === 0x2e || buf[i] < 0x21 || buf[i] > 0x7e) fail('a label holds a dot, a space or a byte that is not printable ASCII');
    }
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len).toLowerCase());
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

/** An A or AAAA record's address as text (the 16-byte form by the ABI's own encoder). */
function addressText(b: Buffer): string {
  return b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : abiAddressText(b);
}

export function parseMessage(buf: Buffer): DnsMessage {
  if (buf.length < 12) fail('shorter than a DNS header');
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  if (qd > 1) fail('more than one question');
  if (an > MAX_RECORDS) fail(`more than ${MAX_RECORDS} answers`);
  let off = 12;
  const questions: Question[] = [];
  for (let i = 0; i < qd; i++) {
    const n = readName(buf, off);
    if (n.next + 4 > buf.length) fail('a question is cut short');
    questions.push({ name: n.name, type: buf.readUInt16BE(n.next), class: buf.readUInt16BE(n.next + 2) });
    off = n.next + 4;
  }
  const answers: AnswerRecord[] = [];
  for (let i = 0; i < an; i++) {
    const n = readName(buf, off);
    if (n.next + 10 > buf.length) fail('a record header is cut short');
    const type = buf.readUInt16BE(n.next);
    const cls = buf.readUInt16BE(n.next + 2);
    const ttl = buf.readUInt32BE(n.next + 4);
    const rdlen = buf.readUInt16BE(n.next + 8);
    const rd = n.next + 10;
    if (rd + rdlen > buf.length) fail('record data runs past the end of the message');
    let data: string | undefined;
    if (type === TYPE.A || type === TYPE.AAAA) {
      if (rdlen !== (type === TYPE.A ? 4 : 16)) fail(`an ${type === TYPE.A ? 'A' : 'AAAA'} record of ${rdlen} bytes`);
      data = addressText(buf.subarray(rd, rd + rdlen));
    } else if (type === TYPE.CNAME) {
      const t = readName(buf, rd);
      if (t.next !== rd + rdlen) fail('a CNAME target does not fill its record');
      data = t.name;
    }
    // RFC 2181 §8: a TTL with the top bit set is zero.
    answers.push({ name: n.name, type, class: cls, ttl: ttl > 0x7fffffff ? 0 : ttl, data });
    off = rd + rdlen;
  }
  return {
    id: buf.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    truncated: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    questions,
    answers,
  };
}

export interface Resolution {
  /** The names of the chain, the question's first. */
  names: string[];
  /** Addresses of the chain's last name, with the least TTL along the way to them (seconds). */
  addresses: { address: string; ttl: number }[];
}

/**
 * What an answer says of its question: the CNAME chain from the question's
 * name (followed in any record order, at most 16 links, loops cut), and the
 * A/AAAA records of the names on it. Records of other names teach nothing.
 */
export function resolution(m: DnsMessage): Resolution {
  const q = m.questions[0];
  if (!q) return { names: [], addresses: [] };
  const names = [q.name];
  const ttlTo = new Map<string, number>([[q.name, Infinity]]);
  for (let hop = 0; hop < 16; hop++) {
    const cur = names[names.length - 1];
    const c = m.answers.find((r) => r.type === TYPE.CNAME && r.class === CLASS_IN && r.name === cur && r.data);
    if (!c || ttlTo.has(c.data!)) break;
    names.push(c.data!);
    ttlTo.set(c.data!, Math.min(ttlTo.get(cur)!, c.ttl));
  }
  const addresses: Resolution['addresses'] = [];
  for (const r of m.answers) {
    if ((r.type !== TYPE.A && r.type !== TYPE.AAAA) || r.class !== CLASS_IN || !r.data || !ttlTo.has(r.name)) continue;
    if (r.type !== q.type) continue; // an A in an AAAA answer (or the reverse) was not asked for
    addresses.push({ address: r.data, ttl: Math.min(ttlTo.get(r.name)!, r.ttl) });
  }
  return { names, addresses };
}
