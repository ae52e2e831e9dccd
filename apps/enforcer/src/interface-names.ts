// SPDX-License-Identifier: Apache-2.0
/**
 * What the enforcer looks up about the hosts and interfaces its flows come
 * from, in the namespace it enforces (its --netns, else its own), through
 * `ip -j` run by `nsenter --net=PATH` when a namespace is given
 * (/sys/class/net shows the namespace sysfs was mounted in, not the one we
 * enforce):
 *  - interface names by ifindex (`ip -j link`), resolved once per ifindex:
 *    read again only when an ifindex the table lacks shows up, at most every
 *    `retryMs`, so a flow poll costs a Map lookup;
 *  - MACs of neighbours by address (`ip -j neigh`), for sources no Device
 *    binds and no drop event showed (a device that only ever made allowed
 *    flows), read at most every `retryMs` while flows lack one.
 */
import { execFile } from 'node:child_process';

export type LinkLister = (netns?: string) => Promise<Array<{ ifindex: number; ifname: string }>>;
export type NeighbourLister = (netns?: string) => Promise<Array<{ dst: string; lladdr: string }>>;

function ipJson(what: string, netns?: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'ip', '-j', what, 'show']] : ['ip', ['-j', what, 'show']];
    execFile(cmd, args, { timeout: 5000, maxBuffer: 64 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`ip -j ${what}${netns ? ` in ${netns}` : ''}: ${err.message}`));
      try {
        const out = JSON.parse(stdout || '[]') as unknown;
        resolve(Array.isArray(out) ? out : []);
      } catch (e) {
        reject(new Error(`ip -j ${what}: unreadable output: ${(e as Error).message}`));
      }
    });
  });
}

/** `ip -j link` in netns (a namespace file such as /run/netns/gw), or in this process's namespace. */
export const listLinks: LinkLister = async (netns) =>
  ((await ipJson('link', netns)) as Array<{ ifindex?: unknown; ifname?: unknown }>).filter(
    (l): l is { ifindex: number; ifname: string } => typeof l.ifindex === 'number' && typeof l.ifname === 'string',
  );

/** `ip -j neigh`: addresses with a link-layer address (incomplete and failed entries have none). */
export const listNeighbours: NeighbourLister = async (netns) =>
  ((await ipJson('neigh', netns)) as Array<{ dst?: unknown; lladdr?: unknown }>).filter(
    (n): n is { dst: string; lladdr: string } => typeof n.dst === 'string' && typeof n.lladdr === 'string',
  );

/** MACs of the namespace's neighbours by address, re-read at most every retryMs when asked. */
export class NeighbourMacs {
  private macs = new Map<string, string>();
  private lastRead = -Infinity;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly netns?: string,
    private readonly list: NeighbourLister = listNeighbours,
    private readonly retryMs = 10_000,
  ) {}

  /** The MAC of address, lower case; '' when not a neighbour (or not read yet). */
  get(address: string): string {
    return this.macs.get(address) ?? '';
  }

  /** Reads the table again when the last read is older than retryMs; never throws. */
  refresh(): Promise<void> {
    if (this.reading) return this.reading;
    if (Date.now() - this.lastRead < this.retryMs) return Promise.resolve();
    this.lastRead = Date.now();
    this.reading = this.list(this.netns)
      .then((ns) => {
        this.macs = new Map(ns.map((n) => [n.dst, n.lladdr.toLowerCase()]));
      })
      .catch(() => undefined /* MACs are a convenience */)
      .finally(() => (this.reading = null));
    return this.reading;
  }
}

export class InterfaceNames {
  private names = new Map<number, string>();
  private lastRead = -Infinity;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly netns?: string,
    private readonly list: LinkLister = listLinks,
    private readonly retryMs = 10_000,
  ) {}

  /** The name of ifindex, '' when unknown (not resolved yet, or not an interface of that namespace). */
  get(ifindex: number): string {
    return this.names.get(ifindex) ?? '';
  }

  /** Reads the table again if one of these ifindexes is missing and the last read is old enough; never throws. */
  async resolve(ifindexes: Iterable<number>): Promise<void> {
    let missing = false;
    for (const i of ifindexes) if (i && !this.names.has(i)) missing = true;
    if (!missing || Date.now() - this.lastRead < this.retryMs) return this.reading ?? undefined;
    this.reading ??= (async () => {
      this.lastRead = Date.now();
      try {
        const links = await this.list(this.netns);
        this.names = new Map(links.map((l) => [l.ifindex, l.ifname]));
      } catch {
        /* keep what we had: names are a convenience, ifindex stays in every record */
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }
}
