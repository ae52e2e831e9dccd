// SPDX-License-Identifier: Apache-2.0
/**
 * A fast synthetic DNS server for bursts, run in a test's "world" namespace:
 * `node dns-synth-server.js ADDRESS PER_ANSWER SECONDS [NAME=IP ...]`.
 * An A query for n<I>.<anything> is answered with PER_ANSWER distinct
 * addresses, address k = I * PER_ANSWER + j in 198.18.0.0/15 (the benchmark
 * range: 131,072 addresses, never routed); each NAME=IP given is answered
 * with that address alone. TTL 300. Exits by itself after SECONDS.
 */
'use strict';
const dgram = require('node:dgram');
const [address, perAnswer, seconds, ...fixed] = process.argv.slice(2);
const K = Number(perAnswer);
const names = new Map(fixed.map((f) => f.split('=')));
const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');

function rr(ip) {
  const r = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 0, 0, 0, 0]);
  ip.split('.').forEach((o, i) => (r[12 + i] = Number(o)));
  return r;
}
const synth = (k) => `198.${18 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

s.on('message', (m, from) => {
  if (m.length < 17) return;
  let o = 12;
  const labels = [];
  while (o < m.length && m[o] !== 0 && labels.length < 16) {
    labels.push(m.toString('latin1', o + 1, o + 1 + m[o]));
    o += m[o] + 1;
  }
  const qEnd = o + 5;
  if (qEnd > m.length) return;
  const qtype = m.readUInt16BE(o + 1);
  const name = labels.join('.').toLowerCase();
  let answers = [];
  if (qtype === 1 && names.has(name)) answers = [names.get(name)];
  else if (qtype === 1 && /^n\d+$/.test(labels[0] ?? '')) {
    const i = Number(labels[0].slice(1));
    for (let j = 0; j < K && i * K + j < 131072; j++) answers.push(synth(i * K + j));
  }
  const h = Buffer.from(m.subarray(0, 12));
  h.writeUInt16BE(answers.length ? 0x8180 : 0x8183, 2); // NXDOMAIN for other names
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  h.writeUInt32BE(0, 8);
  s.send(Buffer.concat([h, m.subarray(12, qEnd), ...answers.map(rr)]), from.port, from.address);
});
s.bind(53, address, () => process.stdout.write('listening\n'));
setTimeout(() => process.exit(0), Number(seconds) * 1000).unref();
