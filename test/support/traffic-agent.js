#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Traffic for namespace tests, run inside a namespace with `ip netns exec`.
// Every mode is bounded in count and time and prints one JSON line.
//   serve PORT [SECONDS]            TCP echo and UDP counter on PORT, IPv4 and IPv6; stats on SIGTERM or timeout
//   connect HOST PORT [TIMEOUT_MS]  one TCP round trip: {"ok":true|false}
//   stream HOST PORT SECONDS        TCP messages every 5 ms, each echoed: {"sent","echoed","errors"}
//   udp HOST PORT COUNT             COUNT datagrams, 2 ms apart: {"sent"}
'use strict';
const net = require('node:net');
const dgram = require('node:dgram');
const [mode, ...args] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (mode === 'serve') {
  const port = Number(args[0]);
  const lifetime = Number(args[1] ?? 60) * 1000;
  const stats = { tcpConnections: 0, tcpBytes: 0, udpDatagrams: 0 };
  const tcp = net.createServer((s) => {
    stats.tcpConnections++;
    s.on('data', (d) => { stats.tcpBytes += d.length; s.write(d); });
    s.on('error', () => {});
  });
  // dual stack: IPv4 and IPv6 on one socket each
  const udp = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  udp.on('message', () => stats.udpDatagrams++);
  let ready = 0;
  const onReady = () => { if (++ready === 2) out({ ready: true }); };
  tcp.listen({ port, host: '::', ipv6Only: false }, onReady);
  udp.bind(port, onReady);
  const finish = () => { out(stats); process.exit(0); };
  process.on('SIGTERM', finish);
  setTimeout(finish, lifetime);
} else if (mode === 'connect') {
  const [host, port, timeout = '1500'] = args;
  const s = net.connect({ host, port: Number(port) });
  const timer = setTimeout(() => { out({ ok: false, error: 'timeout' }); process.exit(0); }, Number(timeout));
  s.on('connect', () => s.write('ping'));
  s.on('data', () => { clearTimeout(timer); out({ ok: true }); s.destroy(); process.exit(0); });
  s.on('error', (e) => { clearTimeout(timer); out({ ok: false, error: e.code }); process.exit(0); });
} else if (mode === 'stream') {
  const [host, port, seconds] = args;
  const stats = { sent: 0, echoed: 0, errors: 0 };
  const s = net.connect({ host, port: Number(port) });
  let buf = '';
  s.setNoDelay(true);
  s.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    stats.echoed += lines.length;
  });
  s.on('error', () => stats.errors++);
  s.on('connect', () => {
    const t = setInterval(() => s.write(`${stats.sent++}\n`), 5);
    setTimeout(() => {
      clearInterval(t);
      // wait for the last echoes, bounded
      setTimeout(() => { out(stats); s.destroy(); process.exit(0); }, 1500);
    }, Number(seconds) * 1000);
  });
  setTimeout(() => { out({ ...stats, errors: stats.errors + 1, error: 'deadline' }); process.exit(0); }, Number(seconds) * 1000 + 10000);
} else if (mode === 'udp') {
  const [host, port, count] = args;
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let sent = 0;
  const t = setInterval(() => {
    if (sent >= Number(count)) { clearInterval(t); out({ sent }); s.close(); return; }
    s.send(Buffer.from(String(sent++)), Number(port), host);
  }, 2);
} else {
  process.stderr.write('usage: traffic-agent serve|connect|stream|udp ...\n');
  process.exit(2);
}
