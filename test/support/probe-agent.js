#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Timed traffic for schedule tests, run inside a namespace with `ip netns exec`.
// Wall-clock timestamps (ms), comparable with the test's: one kernel, one clock.
// Every mode is bounded in count and time and prints one JSON line.
//   probe HOST PORT SECONDS EVERY_MS TIMEOUT_MS  a new TCP connection (one round trip) every EVERY_MS:
//                                                {"attempts":[[startMs, ok], ...]}
//   hold HOST PORT SECONDS                      one TCP connection, a line every 20 ms, each echoed:
//                                                {"connectedAt","lastEcho","echoed","sent"}
'use strict';
const net = require('node:net');
const [mode, host, portText, secondsText, ...rest] = process.argv.slice(2);
const port = Number(portText);
const until = Date.now() + Number(secondsText) * 1000;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (mode === 'probe') {
  const every = Number(rest[0] ?? 100);
  const timeout = Number(rest[1] ?? 300);
  const attempts = [];
  let pending = 0;
  const one = () => {
    const start = Date.now();
    const rec = [start, false];
    attempts.push(rec);
    pending++;
    const s = net.connect({ host, port });
    const done = (ok) => {
      if (rec.done) return;
      rec.done = true;
      rec[1] = ok;
      pending--;
      clearTimeout(timer);
      s.destroy();
    };
    const timer = setTimeout(() => done(false), timeout);
    s.on('connect', () => s.write('ping'));
    s.on('data', () => done(true));
    s.on('error', () => done(false));
  };
  const tick = setInterval(() => {
    if (Date.now() >= until || attempts.length >= 10_000) {
      clearInterval(tick);
      const wait = setInterval(() => {
        if (pending === 0) {
          clearInterval(wait);
          out({ attempts: attempts.map(([t, ok]) => [t, ok]) });
          process.exit(0);
        }
      }, 20);
      return;
    }
    one();
  }, every);
} else if (mode === 'hold') {
  const stats = { connectedAt: null, lastEcho: null, echoed: 0, sent: 0 };
  const s = net.connect({ host, port });
  s.setNoDelay(true);
  let buf = '';
  s.on('connect', () => {
    stats.connectedAt = Date.now();
    const t = setInterval(() => {
      if (Date.now() >= until) {
        clearInterval(t);
        out(stats);
        s.destroy();
        process.exit(0);
      }
      s.write(`${stats.sent++}\n`);
    }, 20);
  });
  s.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    if (lines.length) stats.lastEcho = Date.now();
    stats.echoed += lines.length;
  });
  s.on('error', () => {});
  setTimeout(() => { out(stats); process.exit(0); }, until - Date.now() + 3000);
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
