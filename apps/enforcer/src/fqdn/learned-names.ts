// SPDX-License-Identifier: Apache-2.0
/**
 * What the DNS proxy has learned: (name, address) entries with their expiry,
 * and the datapath's view of them, one cordon_fqdn entry per address holding
 * the identities of every name selector a name of its answers matched
 * (native/lib/fqdn-maps.ts). Bounded: at most maxPerName addresses a name and
 * maxAddresses entries in all, the oldest learned going first (counted as
 * evictions). An entry stays in the datapath lingerS past its expiry, so
 * that tracked connections re-judged under a new generation keep their
 * verdict; new connections are refused from expiry on by the datapath itself.
 */
import { FQDN_SELECTORS } from '../../../../native/lib/abi';
import type { FqdnEntry } from '../../../../native/lib/fqdn-maps';
import { fqdnMatches, type FqdnSelector } from '../../../../model/generation/fqdn';
import { SeenNames } from './seen-names';

/** The part of the datapath this writes. */
export interface FqdnSink {
  writeFqdn(entries: readonly FqdnEntry[]): void;
  deleteFqdn(addresses: readonly string[]): number;
}

export interface LearnedOptions {
  minTtlS: number;
  maxAddresses: number;
  maxPerName: number;
  lingerS: number;
  /** bpf_ktime_get_ns()'s clock (CLOCK_MONOTONIC). */
  now?: () => bigint;
}

interface Entry {
  name: string;
  /** The answer's CNAME chain, the name first: what selectors are matched against. */
  chain: string[];
  address: string;
  expiresNs: bigint;
  /** Adopted from the datapath with no name known (an earlier run's): its selectors as found. */
  adopted?: number[];
}

export interface LearnedView {
  name: string;
  address: string;
  /** Wall-clock milliseconds. */
  expiresAt: number;
  selectors: string[];
}

export interface PersistedEntry {
  name: string;
  chain: string[];
  address: string;
  expiresNs: string;
}

const NS = 1_000_000_000n;

export class LearnedNames {
  /** By `name address`, in learning order (a refresh moves an entry to the end): the first is the oldest. */
  private readonly entries = new Map<string, Entry>();
  private readonly byName = new Map<string, Set<string>>();
  private readonly byAddress = new Map<string, Set<string>>();
  private selectors: FqdnSelector[] = [];
  private denying = new Set<number>();
  private readonly now: () => bigint;
  evictions = 0;
  /** Addresses that matched more selectors than the datapath holds (allows dropped first). */
  overflows = 0;
  /** Set on every change, for the owner's snapshot. */
  dirty = false;
  /** Counts changes, for the report to the controller (fqdn-report.ts). */
  changes = 0;

  constructor(
    private readonly sink: FqdnSink,
    private readonly opts: LearnedOptions,
  ) {
    this.now = opts.now ?? (() => process.hrtime.bigint());
    this.seen = new SeenNames(opts.maxAddresses, opts.minTtlS);
  }
  /** Answers no pattern matched: names for flow records only. */
  private readonly seen: SeenNames;

  get addressCount(): number {
    return this.byAddress.size;
  }

  /** A generation's name selectors; `denying`: those a deny names (kept first when an address has too many). */
  setSelectors(selectors: readonly FqdnSelector[], denying: ReadonlySet<number>): void {
    const same = selectors.length === this.selectors.length && selectors.every((s, i) => s.pattern === this.selectors[i].pattern && s.identity === this.selectors[i].identity);
    this.selectors = [...selectors];
    this.denying = new Set(denying);
    if (!same) this.flush([...this.byAddress.keys()]);
  }

  /** The identities of the selectors that match a name of `chain`. */
  matching(chain: readonly string[]): number[] {
    const out: number[] = [];
    for (const s of this.selectors) if (chain.some((n) => fqdnMatches(s.pattern, n))) out.push(s.identity);
    return out;
  }

  /**
   * Learns an answer: the addresses of `chain`'s last name, for chain[0].
   * Writes the datapath before returning (the proxy releases the answer
   * after). Names no selector matches are only remembered for flow records (SeenNames). Returns the addresses written.
   */
  learn(chain: readonly string[], addresses: readonly { address: string; ttl: number }[]): number {
    if (chain.length === 0 || addresses.length === 0) return 0;
    if (this.matching(chain).length === 0) {
      this.seen.remember(chain[0], addresses);
      return 0;
    }
    const name = chain[0];
    const now = this.now();
    const touched = new Set<string>();
    for (const a of addresses) {
      const key = `${name} ${a.address}`;
      const ttl = BigInt(Math.max(a.ttl, this.opts.minTtlS));
      const old = this.entries.get(key);
      const expiresNs = now + ttl * NS;
      if (old) this.entries.delete(key);
      this.entries.set(key, { name, chain: [...chain], address: a.address, expiresNs: old && old.expiresNs > expiresNs ? old.expiresNs : expiresNs });
      this.index(this.byName, name, key);
      this.index(this.byAddress, a.address, key);
      touched.add(a.address);
    }
    // caps: the name's oldest first, then everyone's oldest
    const mine = this.byName.get(name)!;
    while (mine.size > this.opts.maxPerName) this.evict(mine.values().next().value!, touched);
    while (this.entries.size > this.opts.maxAddresses) this.evict(this.entries.keys().next().value!, touched);
    this.flush([...touched]);
    return addresses.length;
  }

  /** Forgets what expired more than lingerS ago; returns how many entries went. */
  collect(): number {
    const limit = this.now() - BigInt(this.opts.lingerS) * NS;
    const touched = new Set<string>();
    let n = 0;
    for (const [key, e] of this.entries) {
      if (e.expiresNs < limit) {
        this.remove(key, touched);
        n++;
      }
    }
    if (n) this.flush([...touched]);
    return n;
  }

  /** For `cordon get fqdn`: every entry, names sorted. */
  list(): LearnedView[] {
    const now = this.now();
    const wall = Date.now();
    const names = new Map(this.selectors.map((s) => [s.identity, s.pattern]));
    return [...this.entries.values()]
      .map((e) => ({
        name: e.name,
        address: e.address,
        expiresAt: wall + Number((e.expiresNs - now) / 1_000_000n),
        selectors: (e.adopted ?? this.matching(e.chain)).map((id) => names.get(id) ?? String(id)),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.address < b.address ? -1 : 1));
  }

  /** The name most recently learned for an address (flows' dst_name), else the one it was seen answered for, or undefined. */
  nameOf(address: string): string | undefined {
    const keys = this.byAddress.get(address);
    let last: string | undefined;
    if (keys) for (const k of keys) last = this.entries.get(k)!.name;
    return last || this.seen.nameOf(address);
  }

  persisted(): PersistedEntry[] {
    return [...this.entries.values()].filter((e) => !e.adopted).map((e) => ({ name: e.name, chain: e.chain, address: e.address, expiresNs: e.expiresNs.toString() }));
  }

  /**
   * After a restart: the entries of the last snapshot, and those the pinned
   * map holds that the snapshot missed (a kill between the write and the
   * snapshot), kept with their selectors and no name. Then rewrites the map.
   */
  restore(saved: readonly PersistedEntry[], pinned: readonly FqdnEntry[]): void {
    const limit = this.now() - BigInt(this.opts.lingerS) * NS;
    for (const p of saved) {
      let expiresNs: bigint;
      try {
        expiresNs = BigInt(p.expiresNs);
      } catch {
        continue;
      }
      if (expiresNs < limit || typeof p.name !== 'string' || !Array.isArray(p.chain) || typeof p.address !== 'string') continue;
      const key = `${p.name} ${p.address}`;
      this.entries.set(key, { name: p.name, chain: p.chain.map(String), address: p.address, expiresNs });
      this.index(this.byName, p.name, key);
      this.index(this.byAddress, p.address, key);
    }
    for (const f of pinned) {
      if (this.byAddress.has(f.address) || f.expiresNs < limit) continue;
      const key = ` ${f.address}`;
      this.entries.set(key, { name: '', chain: [], address: f.address, expiresNs: f.expiresNs, adopted: [...f.selectors] });
      this.index(this.byName, '', key);
      this.index(this.byAddress, f.address, key);
    }
    const stale = pinned.filter((f) => !this.byAddress.has(f.address)).map((f) => f.address);
    this.sink.deleteFqdn(stale);
    // the addresses evicted here are in the pinned map too: the flush deletes them there
    const evicted = new Set<string>();
    while (this.entries.size > this.opts.maxAddresses) this.evict(this.entries.keys().next().value!, evicted);
    this.flush([...new Set([...this.byAddress.keys(), ...evicted])]);
  }

  private index(m: Map<string, Set<string>>, k: string, key: string): void {
    let s = m.get(k);
    if (!s) m.set(k, (s = new Set()));
    s.delete(key);
    s.add(key);
  }

  private evict(key: string, touched: Set<string>): void {
    this.remove(key, touched);
    this.evictions++;
  }

  private remove(key: string, touched: Set<string>): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    for (const [m, k] of [[this.byName, e.name], [this.byAddress, e.address]] as const) {
      const s = m.get(k)!;
      s.delete(key);
      if (s.size === 0) m.delete(k);
    }
    touched.add(e.address);
  }

  /** Writes (or deletes) the datapath entries of these addresses from what is held. */
  private flush(addresses: readonly string[]): void {
    const write: FqdnEntry[] = [];
    const gone: string[] = [];
    const live = new Set(this.selectors.map((s) => s.identity));
    for (const address of addresses) {
      const keys = this.byAddress.get(address);
      if (!keys) {
        gone.push(address);
        continue;
      }
      const ids = new Set<number>();
      let expiresNs = 0n;
      for (const k of keys) {
        const e = this.entries.get(k)!;
        for (const id of e.adopted ? e.adopted.filter((x) => live.has(x)) : this.matching(e.chain)) ids.add(id);
        if (e.expiresNs > expiresNs) expiresNs = e.expiresNs;
      }
      let selectors = [...ids].sort((a, b) => Number(this.denying.has(b)) - Number(this.denying.has(a)) || a - b);
      if (selectors.length > FQDN_SELECTORS) {
        selectors = selectors.slice(0, FQDN_SELECTORS);
        this.overflows++;
      }
      if (selectors.length === 0) gone.push(address);
      else write.push({ address, expiresNs, selectors });
    }
    this.sink.writeFqdn(write);
    this.sink.deleteFqdn(gone);
    this.dirty = true;
    this.changes++;
  }
}
