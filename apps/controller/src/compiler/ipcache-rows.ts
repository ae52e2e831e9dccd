// SPDX-License-Identifier: Apache-2.0
/**
 * The ipcache rows as the bundle lists them: sorted by the datapath's key
 * (address in the 128-bit space, then prefix length), with the bucketed
 * ipcache digest of model/generation/digest.ts kept up to date: a change
 * rehashes only the buckets it touches.
 */
import type { IpcacheEntry } from '../../../../native/lib/abi';
import { ipcacheBucket, ipcacheBucketDigest, ipcacheDigest } from '../../../../model/generation/digest';
import type { Prefix } from '../policy/net';

export interface Row {
  key: string;
  prefix: Prefix;
  entry: IpcacheEntry;
  /** canonicalIpcacheEntry(entry). */
  line: string;
}

export interface IpcacheDelta {
  upsert: IpcacheEntry[];
  remove: string[];
}

const cmpPrefix = (a: Prefix, b: Prefix) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.len - b.len);

export class IpcacheRows {
  private readonly rows = new Map<string, Row>();
  private sorted: Row[] = [];
  private entriesCache: IpcacheEntry[] | null = [];
  private digestCache: string | null = null;
  /** Canonical lines by hash bucket, and the digests of buckets not changed since. */
  private readonly buckets = new Map<number, Map<string, string>>();
  private readonly bucketDigests = new Map<number, string>();

  /** Puts the row `rowAt` gives for each key (undefined: none) in place; returns what changed, as a bundle delta section. */
  apply(keys: Iterable<string>, rowAt: (key: string) => Row | undefined): IpcacheDelta {
    const delta: IpcacheDelta = { upsert: [], remove: [] };
    const added: Row[] = [];
    const gone: Row[] = [];
    for (const key of keys) {
      const old = this.rows.get(key);
      const row = rowAt(key);
      if (old && row && old.line === row.line) continue;
      if (old) {
        gone.push(old);
        this.rows.delete(key);
        this.unbucket(old);
        if (!row || row.entry.cidr !== old.entry.cidr) delta.remove.push(old.entry.cidr);
      }
      if (row) {
        added.push(row);
        this.rows.set(key, row);
        this.bucket(row);
        delta.upsert.push(row.entry);
      }
    }
    if (added.length + gone.length === 0) return delta;
    this.entriesCache = null;
    this.digestCache = null;
    if (added.length + gone.length > 64) {
      this.sorted = [...this.rows.values()].sort((a, b) => cmpPrefix(a.prefix, b.prefix));
    } else {
      for (const r of gone) this.sorted.splice(this.indexOf(r.prefix), 1);
      for (const r of added) this.sorted.splice(this.indexOf(r.prefix), 0, r);
    }
    return delta;
  }

  /** Entries by address in the 128-bit space, then prefix length. */
  entries(): IpcacheEntry[] {
    return (this.entriesCache ??= this.sorted.map((r) => r.entry));
  }

  digest(): string {
    if (this.digestCache === null) {
      const list: { bucket: number; digest: string }[] = [];
      for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) {
        let digest = this.bucketDigests.get(b);
        if (digest === undefined) this.bucketDigests.set(b, (digest = ipcacheBucketDigest(this.buckets.get(b)!.values())));
        list.push({ bucket: b, digest });
      }
      this.digestCache = ipcacheDigest(list);
      this.levels = list;
    }
    return this.digestCache;
  }
  private levels: { bucket: number; digest: string }[] = [];

  /** The bucket digests the ipcache digest is of. */
  bucketLevels(): Map<number, string> {
    this.digest();
    return new Map(this.levels.map((b) => [b.bucket, b.digest]));
  }

  private bucket(r: Row) {
    const b = ipcacheBucket(r.entry.cidr);
    let m = this.buckets.get(b);
    if (!m) this.buckets.set(b, (m = new Map()));
    m.set(r.entry.cidr, r.line);
    this.bucketDigests.delete(b);
  }

  private unbucket(r: Row) {
    const b = ipcacheBucket(r.entry.cidr);
    const m = this.buckets.get(b)!;
    m.delete(r.entry.cidr);
    if (m.size === 0) this.buckets.delete(b);
    this.bucketDigests.delete(b);
  }

  private indexOf(p: Prefix): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmpPrefix(this.sorted[mid].prefix, p) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
