// SPDX-License-Identifier: Apache-2.0
/**
 * A device's side of the DNS tests, run inside its namespace with
 * `ip netns exec NS node --import tsx test/support/dns-client.ts JSON`:
 * resolves names through a resolver and, for each answer, connects to its
 * first address at once (the first SYN right after the answer), or only
 * resolves (a burst). Bounded in count and time; prints one JSON line.
 *
 *   {"mode":"resolve-connect","resolver":"10.0.0.53","names":["a.example"],"type":"A","port":443}
 *   {"mode":"burst","resolver":"10.0.0.53","names":[...],"type":"A","concurrency":64}
 *   {"mode":"timed",...}: as resolve-connect, one name at a time, with each
 *   query's time to its answer and to the connection (µs from the query sent)
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { parseMessage, resolution, TYPE } from '../../apps/enforcer/src/fqdn/dns-message';

interface Args {
  mode: 'resolve-connect' | 'burst' | 'timed';
  resolver: string;
  names: string[];
  type: 'A' | 'AAAA';
  port?: number;
  concurrency?: number;
  timeoutMs?: number;
}

const args = JSON.parse(process.argv[2]) as Args;
const timeoutMs = args.timeoutMs ?? 2000;

function query(name: string, type: number): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const h = Buffer.alloc(12);
  h.writeUInt16BE(Math.floor(Math.random() * 65536), 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([h, ...labels, Buffer.from([0]), tail]);
}

function resolve(name: string): Promise<string[]> {
  const type = args.type === 'A' ? TYPE.A : TYPE.AAAA;
  const s = dgram.createSocket(net.isIPv4(args.resolver) ? 'udp4' : 'udp6');
  return new Promise((done) => {
    const q = query(name, type);
    const timer = setTimeout(() => finish([]), timeoutMs);
    const finish = (a: string[]) => {
      clearTimeout(timer);
      s.close();
      done(a);
    };
    s.on('error', () => finish([]));
    s.on('message', (m) => {
      if (m.readUInt16BE(0) !== q.readUInt16BE(0)) return;
      try {
        finish(resolution(parseMessage(m)).addresses.map((x) => x.address));
      } catch {
        finish([]);
      }
    });
    s.send(q, 53, args.resolver);
  });
}

function connect(address: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const c = net.connect({ host: address, port, timeout: timeoutMs });
    const end = (ok: boolean) => {
      c.destroy();
      done(ok);
    };
    c.on('connect', () => end(true));
    c.on('timeout', () => end(false));
    c.on('error', () => end(false));
  });
}

async function main() {
  const deadline = Date.now() + 120_000;
  if (args.mode === 'resolve-connect') {
    const results: { name: string; address?: string; ok: boolean }[] = [];
    for (const name of args.names) {
      if (Date.now() > deadline) break;
      const addrs = await resolve(name);
      if (addrs.length === 0) {
        results.push({ name, ok: false });
        continue;
      }
      results.push({ name, address: addrs[0], ok: await connect(addrs[0], args.port ?? 443) });
    }
    process.stdout.write(JSON.stringify({ passed: results.filter((r) => r.ok).length, results }) + '\n');
    return;
  }
  if (args.mode === 'timed') {
    const answerUs: number[] = [];
    const allowedUs: number[] = [];
    let passed = 0;
    const us = (t: bigint) => Number((process.hrtime.bigint() - t) / 1000n);
    for (const name of args.names) {
      if (Date.now() > deadline) break;
      const t0 = process.hrtime.bigint();
      const addrs = await resolve(name);
      answerUs.push(us(t0));
      if (addrs.length && (await connect(addrs[0], args.port ?? 443))) {
        passed++;
        allowedUs.push(us(t0));
      }
    }
    process.stdout.write(JSON.stringify({ sent: answerUs.length, passed, answerUs, allowedUs }) + '\n');
    return;
  }
  let answered = 0;
  let next = 0;
  const worker = async () => {
    while (next < args.names.length && Date.now() < deadline) {
      const n = args.names[next++];
      if ((await resolve(n)).length) answered++;
    }
  };
  await Promise.all(Array.from({ length: args.concurrency ?? 32 }, worker));
  process.stdout.write(JSON.stringify({ sent: next, answered }) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stdout.write(JSON.stringify({ error: String(e) }) + '\n');
    process.exit(1);
  },
);
