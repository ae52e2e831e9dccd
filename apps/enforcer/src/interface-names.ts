// SPDX-License-Identifier: Apache-2.0
/**
 * Interface names by ifindex, in the namespace the enforcer enforces (its
 * --netns, else its own): `ip -j link`, run through `nsenter --net=PATH` when a
 * namespace is given (/sys/class/net shows the namespace sysfs was mounted in,
 * not the one we enforce). Resolved once per ifindex: the table is read again
 * only when an ifindex it lacks shows up, and at most every `retryMs`, so a
 * flow poll costs a Map lookup.
 */
import { execFile } from 'node:child_process';

export type LinkLister = (netns?: string) => Promise<Array<{ ifindex: number; ifname: string }>>;

/** `ip -j link` in netns (a namespace file such as /run/netns/gw), or in this process's namespace. */
export const listLinks: LinkLister = (netns) =>
  new Promise((resolve, reject) => {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'ip', '-j', 'link', 'show']] : ['ip', ['-j', 'link', 'show']];
    execFile(cmd, args, { timeout: 5000, maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`list interfaces${netns ? ` in ${netns}` : ''}: ${err.message}`));
      try {
        const links = JSON.parse(stdout) as Array<{ ifindex?: number; ifname?: string }>;
        resolve(links.filter((l) => typeof l.ifindex === 'number' && typeof l.ifname === 'string') as Array<{ ifindex: number; ifname: string }>);
      } catch (e) {
        reject(new Error(`list interfaces: unreadable \`ip -j link\` output: ${(e as Error).message}`));
      }
    });
  });

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
