// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcing host's own addresses become the built-in `host` identity in
 * every generation it applies: the controller cannot know them, and without
 * them the gateway's address on a segment's subnet would count as a member of
 * that segment (and its own traffic be judged as such).
 */
import { execFileSync } from 'node:child_process';
import { IDENTITY, IpcacheEntry } from '../../../native/lib/abi';

interface IpAddrJson {
  ifname: string;
  addr_info?: { family: string; local: string; scope?: string }[];
}

/** Addresses of every interface in the namespace (this process's, or netns), loopback excepted. */
export function hostAddresses(netns?: string): string[] {
  const cmd = netns ? ['nsenter', `--net=${netns}`, 'ip', '-j', 'addr', 'show'] : ['ip', '-j', 'addr', 'show'];
  const out = execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 5000 });
  const links = JSON.parse(out) as IpAddrJson[];
  const addrs = new Set<string>();
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      if (a.scope === 'host' || (a.family !== 'inet' && a.family !== 'inet6')) continue;
      addrs.add(a.local);
    }
  }
  return [...addrs].sort();
}

/** The bundle's entries with one host route per own address (replacing any entry for that exact prefix). */
export function withHostEntries(ipcache: readonly IpcacheEntry[], addrs: readonly string[]): IpcacheEntry[] {
  const own = addrs.map((a): IpcacheEntry => ({ cidr: `${a}/${a.includes(':') ? 128 : 32}`, identity: IDENTITY.HOST }));
  const taken = new Set(own.map((e) => e.cidr));
  return [...ipcache.filter((e) => !taken.has(e.cidr)), ...own];
}
