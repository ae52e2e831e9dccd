// SPDX-License-Identifier: Apache-2.0
/**
 * Names seen in DNS answers that no policy pattern matches: nothing the
 * datapath is told (they allow nothing), only what flow records name
 * (dst_name), so that a denied connection to a server says which server, and
 * `cordon recommend` can propose a rule by name. Bounded (oldest first), each
 * for its TTL (at least minTtlS).
 */
export class SeenNames {
  /** By address, in insertion order (a refresh moves it to the end): the first is the oldest. */
  private readonly byAddress = new Map<string, { name: string; expiresMs: number }>();

  constructor(
    private readonly max: number,
    private readonly minTtlS: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.byAddress.size;
  }

  remember(name: string, addresses: readonly { address: string; ttl: number }[]): void {
    const now = this.now();
    for (const a of addresses) {
      this.byAddress.delete(a.address);
      this.byAddress.set(a.address, { name, expiresMs: now + Math.max(a.ttl, this.minTtlS) * 1000 });
    }
    for (const k of this.byAddress.keys()) {
      if (this.byAddress.size <= this.max) break;
      this.byAddress.delete(k);
    }
  }

  /** The name an address was last seen answered for, while its TTL lasts. */
  nameOf(address: string): string | undefined {
    const e = this.byAddress.get(address);
    if (!e) return undefined;
    if (e.expiresMs < this.now()) {
      this.byAddress.delete(address);
      return undefined;
    }
    return e.name;
  }
}
