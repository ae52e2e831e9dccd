// SPDX-License-Identifier: Apache-2.0
/**
 * A gateway namespace between namespaces of "devices", joined by veth pairs:
 * the test bed of the traffic tests and the demo. Traffic stays inside the
 * namespaces made here; `down` removes them and everything in them.
 *
 *   <prefix>-<site> [eth0] ==veth== [<site short>] <prefix>-gw [...] ==veth== ...
 */
import { execFileSync, spawn, ChildProcess } from 'node:child_process';

export interface Site {
  /** Namespace suffix and gateway interface name stem, e.g. "sensors". */
  name: string;
  /** Third octet / hextet of the site's subnets: 10.<net>.<index>.0/24, fd00:<net>:<index>::/64. */
  index: number;
}

export interface Topology {
  prefix: string;
  net: number;
  sites: Site[];
}

export interface SiteAddresses {
  ns: string;
  gwIf: string;
  v4: string;
  v6: string;
  gw4: string;
  gw6: string;
  subnet4: string;
  subnet6: string;
  mac: string;
}

function sh(args: string[], opts: { allowFail?: boolean } = {}): string {
  try {
    return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (opts.allowFail) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

export const gatewayNs = (t: Topology) => `${t.prefix}-gw`;

export function site(t: Topology, name: string): SiteAddresses {
  const s = t.sites.find((x) => x.name === name);
  if (!s) throw new Error(`no site ${name} in topology ${t.prefix}`);
  const i = s.index;
  return {
    ns: `${t.prefix}-${s.name}`,
    gwIf: `gw-${s.name}`.slice(0, 15),
    v4: `10.${t.net}.${i}.2`,
    v6: `fd00:${t.net}:${i}::2`,
    gw4: `10.${t.net}.${i}.1`,
    gw6: `fd00:${t.net}:${i}::1`,
    subnet4: `10.${t.net}.${i}.0/24`,
    subnet6: `fd00:${t.net}:${i}::/64`,
    mac: `02:00:00:${t.net.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}:02`,
  };
}

export function down(t: Topology): void {
  for (const ns of [gatewayNs(t), ...t.sites.map((s) => `${t.prefix}-${s.name}`)])
    sh(['ip', 'netns', 'del', ns], { allowFail: true });
}

export function up(t: Topology): void {
  down(t);
  const gw = gatewayNs(t);
  sh(['ip', 'netns', 'add', gw]);
  const inGw = (...a: string[]) => sh(['ip', 'netns', 'exec', gw, ...a]);
  inGw('ip', 'link', 'set', 'lo', 'up');
  inGw('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  inGw('sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
  for (const s of t.sites) {
    const a = site(t, s.name);
    const inNs = (...x: string[]) => sh(['ip', 'netns', 'exec', a.ns, ...x]);
    sh(['ip', 'netns', 'add', a.ns]);
    sh(['ip', 'link', 'add', a.gwIf, 'netns', gw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', a.ns]);
    inNs('ip', 'link', 'set', 'lo', 'up');
    inNs('ip', 'link', 'set', 'eth0', 'address', a.mac);
    inNs('ip', 'addr', 'add', `${a.v4}/24`, 'dev', 'eth0');
    inNs('ip', '-6', 'addr', 'add', `${a.v6}/64`, 'dev', 'eth0', 'nodad');
    inNs('ip', 'link', 'set', 'eth0', 'up');
    inNs('ip', 'route', 'add', 'default', 'via', a.gw4);
    inNs('ip', '-6', 'route', 'add', 'default', 'via', a.gw6);
    inGw('ip', 'addr', 'add', `${a.gw4}/24`, 'dev', a.gwIf);
    inGw('ip', '-6', 'addr', 'add', `${a.gw6}/64`, 'dev', a.gwIf, 'nodad');
    inGw('ip', 'link', 'set', a.gwIf, 'up');
  }
}

/** The gateway's interface names, one per site. */
export const gatewayInterfaces = (t: Topology) => t.sites.map((s) => site(t, s.name).gwIf);

/** Runs a command inside a namespace, in the background. */
export function spawnIn(ns: string, cmd: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
}

/** Runs a command inside a namespace and returns its exit status and output (bounded by timeoutMs). */
export function runIn(ns: string, cmd: string[], timeoutMs = 10000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnIn(ns, cmd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
