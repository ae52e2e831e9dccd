#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Traffic for the monitoring e2e tests, run inside a namespace with `ip netns exec`.
// Every mode is bounded in count and time.
//   probe HOST PORT EVERY_MS COUNT TIMEOUT_MS   sequential TCP round trips, one JSON line each: {"t":start ms,"ok":bool}
//   scan HOST FROM_PORT TO_PORT TIMEOUT_MS      one TCP attempt per port, 16 at a time: {"attempted","ok"}
//   burst HOST PORT COUNT TIMEOUT_MS            COUNT TCP attempts to one port (each a new source port), 16 at a time: {"attempted","ok"}
//   sweep PREFIX FROM TO PORT EVERY_MS TIMEOUT_MS  one TCP attempt to PREFIX.FROM .. PREFIX.TO, one every EVERY_MS: {"attempted","ok"}
//   send HOST PORT BYTES TIMEOUT_MS             one connection sending BYTES (at most 64 MiB), waiting for the echo: {"sent","echoed"}
//   jitter HOST PORT EVERY_MS COUNT BYTES TIMEOUT_MS  sequential round trips of BYTES ±30 % every EVERY_MS ±30 % (a periodic IoT flow), one JSON line each: {"t","ok","bytes"}
//   stream HOST PORT BYTES_PER_S SECONDS        one connection sending BYTES_PER_S (at most 16 MiB/s) in tenths of a second for SECONDS (at most 60): {"t0","sent","echoed"}
// PROBE_FROM=ADDRESS binds every attempt to that source address.
'use strict';
const net = require('node:net');
const [mode, ...args] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
// Whatever happens, this process ends.
setTimeout(() => { out({ error: 'deadline' }); process.exit(0); }, 120_000).unref();

function attempt(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, ...(process.env.PROBE_FROM ? { localAddress: process.env.PROBE_FROM } : {}) });
    let done = false;
    const finish = (ok) => { if (done) return; done = true; clearTimeout(timer); s.destroy(); resolve(ok); };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('connect', () => s.write('ping'));
    s.on('data', () => finish(true));
    s.on('error', () => finish(false));
  });
}

async function pool(jobs, width) {
  let ok = 0;
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const j = jobs[next++];
      if (await j()) ok++;
    }
  }));
  return ok;
}

(async () => {
  if (mode === 'probe') {
    const [host, port, every, count, timeout] = args.map((a, i) => (i === 0 ? a : Number(a)));
    for (let i = 0; i < Math.min(count, 5000); i++) {
      const t = Date.now();
      const ok = await attempt(host, port, timeout);
      out({ t, ok });
      const wait = t + every - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    process.exit(0);
  } else if (mode === 'scan') {
    const [host, from, to, timeout] = [args[0], Number(args[1]), Number(args[2]), Number(args[3])];
    const ports = [];
    for (let p = from; p <= to && ports.length < 1024; p++) ports.push(p);
    const ok = await pool(ports.map((p) => () => attempt(host, p, timeout)), 16);
    out({ attempted: ports.length, ok });
    process.exit(0);
  } else if (mode === 'burst') {
    const [host, port, count, timeout] = [args[0], Number(args[1]), Math.min(Number(args[2]), 1000), Number(args[3])];
    const ok = await pool(Array.from({ length: count }, () => () => attempt(host, port, timeout)), 16);
    out({ attempted: count, ok });
    process.exit(0);
  } else if (mode === 'sweep') {
    const [prefix, from, to, port, every, timeout] = [args[0], ...args.slice(1).map(Number)];
    let ok = 0;
    let attempted = 0;
    for (let h = from; h <= to && attempted < 256; h++, attempted++) {
      const t = Date.now();
      attempt(`${prefix}.${h}`, port, timeout).then((x) => { if (x) ok++; });
      const wait = t + every - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await new Promise((r) => setTimeout(r, timeout));
    out({ attempted, ok });
    process.exit(0);
  } else if (mode === 'send') {
    const [host, port, bytes, timeout] = [args[0], Number(args[1]), Math.min(Number(args[2]), 64 << 20), Number(args[3])];
    const r = await new Promise((resolve) => {
      const s = net.connect({ host, port });
      let echoed = 0;
      const timer = setTimeout(() => { s.destroy(); resolve({ sent: bytes, echoed }); }, timeout);
      s.on('connect', () => {
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let left = bytes;
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once('drain', pump);
          }
        };
        pump();
      });
      s.on('data', (d) => { echoed += d.length; if (echoed >= bytes) { clearTimeout(timer); s.destroy(); resolve({ sent: bytes, echoed }); } });
      s.on('error', () => { clearTimeout(timer); resolve({ sent: bytes, echoed }); });
    });
    out(r);
    process.exit(0);
  } else if (mode === 'jitter') {
    const [host, port, every, count, bytes, timeout] = [args[0], ...args.slice(1).map(Number)];
    const j = () => 0.7 + 0.6 * Math.random();
    for (let i = 0; i < Math.min(count, 5000); i++) {
      const t = Date.now();
      const n = Math.max(1, Math.round(Math.min(bytes, 1 << 20) * j()));
      const ok = await new Promise((resolve) => {
        const s = net.connect({ host, port });
        let echoed = 0;
        const timer = setTimeout(() => { s.destroy(); resolve(false); }, timeout);
        s.on('connect', () => s.write(Buffer.alloc(n, 0x62)));
        s.on('data', (d) => { echoed += d.length; if (echoed >= n) { clearTimeout(timer); s.destroy(); resolve(true); } });
        s.on('error', () => { clearTimeout(timer); resolve(false); });
      });
      out({ t, ok, bytes: n });
      const wait = t + every * j() - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    process.exit(0);
  } else if (mode === 'stream') {
    const [host, port, rate, seconds] = [args[0], Math.min(Number(args[1]), 65535), Math.min(Number(args[2]), 16 << 20), Math.min(Number(args[3]), 60)];
    const r = await new Promise((resolve) => {
      const s = net.connect({ host, port });
      let sent = 0;
      let echoed = 0;
      let t0 = 0;
      let ticker = null;
      const finish = () => { clearInterval(ticker); s.destroy(); resolve({ t0, sent, echoed }); };
      s.on('connect', () => {
        t0 = Date.now();
        const chunk = Buffer.alloc(Math.max(1, Math.round(rate / 10)), 0x63);
        s.write(chunk);
        sent += chunk.length;
        ticker = setInterval(() => {
          if (Date.now() - t0 >= seconds * 1000) { clearInterval(ticker); return setTimeout(finish, 500); }
          s.write(chunk);
          sent += chunk.length;
        }, 100);
      });
      s.on('data', (d) => { echoed += d.length; });
      s.on('error', () => finish());
    });
    out(r);
    process.exit(0);
  } else {
    process.stderr.write('usage: probe-agent probe|scan|burst|sweep|send|jitter|stream ...\n');
    process.exit(2);
  }
})();
