// SPDX-License-Identifier: Apache-2.0
/**
 * A real rsyslogd (Debian's rsyslog package) for the export tests: a temp
 * config listening on loopback UDP and TCP, writing each message to a temp
 * file as `PRI|VERSION|APP|MSGID|SD|MSG`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../support/wait';

export const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => fs.existsSync(p)) ?? null;

export interface Received {
  pri: number;
  version: string;
  app: string;
  msgid: string;
  sd: string;
  msg: string;
}

export interface TestRsyslog {
  udpPort: number;
  tcpPort: number;
  file: string;
  lines(): Received[];
  waitFor(pred: (r: Received[]) => boolean, ms?: number): Promise<Received[]>;
  stop(): Promise<void>;
}


async function waitTcp(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`rsyslogd did not listen on tcp/${port} within ${ms} ms`);
}

export async function startRsyslog(): Promise<TestRsyslog> {
  if (!RSYSLOGD) throw new Error('rsyslogd not found: apt-get install -y rsyslog (scripts/setup.sh installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-rsyslog-'));
  const udpPort = await freePort('udp');
  const tcpPort = await freePort('tcp');
  const file = path.join(dir, 'received.log');
  const conf = path.join(dir, 'rsyslog.conf');
  fs.writeFileSync(
    conf,
    `global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}")
template(name="cordon" type="string" string="%PRI%|%PROTOCOL-VERSION%|%APP-NAME%|%MSGID%|%STRUCTURED-DATA%|%msg%\\n")
*.* action(type="omfile" file="${file}" template="cordon" flushOnTXEnd="on" asyncWriting="off")
`,
  );
  const stderr: string[] = [];
  const child: ChildProcess = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', path.join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  child.stdout!.on('data', (d) => stderr.push(String(d)));
  try {
    await waitTcp(tcpPort, 5000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${stderr.join('')}`);
  }
  const lines = (): Received[] => {
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [pri, version, app, msgid, ...rest] = l.split('|');
        // SD may contain "|"? Ours never does; MSG may (CEF): split SD at the first "]|" or "-|".
        const tail = rest.join('|');
        const cut = tail.startsWith('-|') ? 1 : tail.indexOf(']|') + 1;
        return { pri: Number(pri), version, app, msgid, sd: tail.slice(0, cut), msg: tail.slice(cut + 1).trim() };
      });
  };
  return {
    udpPort,
    tcpPort,
    file,
    lines,
    async waitFor(pred, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const l = lines();
        if (pred(l)) return l;
        if (Date.now() > end) throw new Error(`rsyslog file did not reach the expected state in ${ms} ms; it holds:\n${l.map((x) => JSON.stringify(x)).join('\n')}\n${stderr.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
