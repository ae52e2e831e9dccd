/**
 * The ipcache (address -> identity) kept up to date under document changes.
 *
 * Rows are keyed by the datapath's key, (128-bit value, prefix length), so
 * `10.0.0.1/32` and `::ffff:10.0.0.1/128` are one row, as they are one LPM
 * key in the kernel. Who owns a row:
 *   - a segment CIDR belongs to the first segment by name that lists it
 *     (later claimants get a warning);
 *   - a device address belongs to the first device by name that lists it, and
 *     beats a segment CIDR of the same key;
 *   - a device address joins, among the segments whose selector matches the
 *     device, the one with the most specific CIDR holding it (else the first of
 *     them by name); a device no segment selects joins the segment whose CIDR
 *     is the longest match; else it is world. Quarantine overrides all.
 * A change to one segment re-resolves only the devices it selects (before or
 * after) and those with an address inside one of its CIDRs (before or after);
 * a change to one device re-resolves that device only.
 */
import { IDENTITY, IpcacheEntry } from '../../../../native/lib/abi';
import { hostPrefix, MASKS, parseAddress, parseCidr, Prefix, prefixKey } from '../policy/net';

import type { Device, Segment } from '../policy/schema';
import { selectorMatches } from '../policy/selectors';
import { canonicalIpcacheEntry } from '../../../../model/generation/digest';
import { addClaim, type Claim, labelKey, Lpm, removeClaim } from './ipcache-claims';
import { IpcacheRows, type IpcacheDelta, type Row } from './ipcache-rows';


interface SegState {
  doc: Segment;
  prefixes: Prefix[];
}

interface DevAddr {
  idx: number;
  prefix: Prefix;
  key: string;
  /** The segment the address joins (before quarantine), or null for world. */
  segment: string | null;
}

interface DevState {
  doc: Device;
  /** Selecting segments, by name. */
  sel: string[];
  addrs: DevAddr[];
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const NET_LEN = 120;

export class IpcacheState {
  private readonly segments = new Map<string, SegState>();
  private readonly devices = new Map<string, DevState>();
  private quarantined = new Set<string>();
  private identities: Record<string, number> = {};

  private readonly cidrClaims = new Map<string, Claim[]>();
  private readonly hostClaims = new Map<string, Claim[]>();
  private readonly lpm = new Lpm();
  /** ownedPrefixes() by segment, dropped when a claim on one of its keys changes. */
  private readonly owned = new Map<string, Prefix[]>();
  /** Segments by the first (sorted) key of their selector: a device can only match through a label it has. */
  private readonly segByLabel = new Map<string, Set<string>>();
  private readonly devByLabel = new Map<string, Set<string>>();
  /** Devices by the /120 (IPv4: /24) holding each of their addresses, to find those inside a CIDR. */
  private readonly devByNet = new Map<bigint, Map<string, number>>();

  private readonly rows = new IpcacheRows();
  private readonly dirty = new Set<string>();

  /** Warnings of the few segments and devices that have any, by name; recomputed for those marked. */
  private readonly segWarnings = new Map<string, string[]>();
  private readonly devWarnings = new Map<string, string[]>();
  private readonly warnSegs = new Set<string>();
  private readonly warnDevs = new Set<string>();
  private warningsCache: string[] | null = [];

  setIdentities(ids: Record<string, number>) {
    this.identities = ids;
  }

  upsertSegment(doc: Segment) {
    this.changeSegment(doc.metadata.name, doc);
  }

  removeSegment(name: string) {
    this.changeSegment(name, undefined);
  }

  upsertDevice(doc: Device) {
    const name = doc.metadata.name;
    const old = this.devices.get(name);
    if (old) this.indexDeviceLabels(name, old.doc, false);
    this.devices.set(name, { doc, sel: [], addrs: [] });
    this.indexDeviceLabels(name, doc, true);
    this.resolveDevice(name, old);
  }

  removeDevice(name: string) {
    const old = this.devices.get(name);
    if (!old) return;
    this.indexDeviceLabels(name, old.doc, false);
    this.devices.delete(name);
    this.resolveDevice(name, old);
  }

  setQuarantined(names: ReadonlySet<string>) {
    const changed = new Set<string>();
    for (const n of names) if (!this.quarantined.has(n)) changed.add(n);
    for (const n of this.quarantined) if (!names.has(n)) changed.add(n);
    this.quarantined = new Set(names);
    for (const n of changed) {
      const d = this.devices.get(n);
      if (!d) continue;
      for (const a of d.addrs) this.dirty.add(a.key);
      this.warnDevs.add(n); // the "in no segment" warning is not given for a quarantined device
    }
  }

  /** Writes pending changes into the rows; returns what changed, as a bundle delta section. */
  flush(): IpcacheDelta {
    if (this.dirty.size === 0) return { upsert: [], remove: [] };
    for (const key of this.dirty) {
      // Who owns a key decides the warnings of everyone claiming it.
      for (const c of this.cidrClaims.get(key) ?? []) this.warnSegs.add(c.name);
      for (const c of this.hostClaims.get(key) ?? []) this.warnDevs.add(c.name);
    }
    const delta = this.rows.apply(this.dirty, (key) => this.rowAt(key));
    this.dirty.clear();
    return delta;
  }

  /** Entries by address in the 128-bit space, then prefix length. */
  entries(): IpcacheEntry[] {
    return this.rows.entries();
  }

  digest(): string {
    return this.rows.digest();
  }

  bucketLevels(): Map<number, string> {
    return this.rows.bucketLevels();
  }

  /** Segments' CIDR clashes (by segment name), then devices' (by device name). */
  warnings(): string[] {
    const update = (marked: Set<string>, store: Map<string, string[]>, compute: (n: string) => string[]) => {
      for (const n of marked) {
        const w = compute(n);
        const had = store.get(n);
        if (w.length === 0 ? had !== undefined : had === undefined || had.join('\n') !== w.join('\n')) this.warningsCache = null;
        if (w.length) store.set(n, w);
        else store.delete(n);
      }
      marked.clear();
    };
    update(this.warnSegs, this.segWarnings, (n) => this.segmentWarnings(n));
    update(this.warnDevs, this.devWarnings, (n) => this.deviceWarnings(n));
    if (this.warningsCache === null) {
      const out: string[] = [];
      for (const n of [...this.segWarnings.keys()].sort(cmpStr)) out.push(...this.segWarnings.get(n)!);
      for (const n of [...this.devWarnings.keys()].sort(cmpStr)) out.push(...this.devWarnings.get(n)!);
      this.warningsCache = out;
    }
    return this.warningsCache;
  }

  // ---- segments ---------------------------------------------------------------

  private changeSegment(name: string, doc: Segment | undefined) {
    const old = this.segments.get(name);
    const prefixes = doc ? doc.spec.cidrs.map((c) => parseCidr(c)) : [];
    // Devices whose segment may change: selected before or after, or inside a CIDR before or after.
    const affected = new Set<string>();
    if (old) this.devicesSelectedBy(old.doc, affected);
    if (doc) this.devicesSelectedBy(doc, affected);
    for (const p of [...(old?.prefixes ?? []), ...prefixes]) this.devicesWithin(p, affected);

    const touched = new Map<string, Prefix>();
    old?.prefixes.forEach((p, idx) => {
      const key = prefixKey(p);
      removeClaim(this.cidrClaims, key, name, idx);
      touched.set(key, p);
    });
    if (old) this.indexSegmentLabels(name, old.doc, false);
    if (doc) {
      this.segments.set(name, { doc, prefixes });
      this.indexSegmentLabels(name, doc, true);
      prefixes.forEach((p, idx) => {
        const key = prefixKey(p);
        addClaim(this.cidrClaims, key, { name, idx, prefix: p });
        touched.set(key, p);
      });
    } else {
      this.segments.delete(name);
    }
    this.warnSegs.add(name);
    this.owned.delete(name);
    for (const [key, p] of touched) {
      const claims = this.cidrClaims.get(key);
      this.lpm.set(p, claims?.[0].name);
      for (const c of claims ?? []) this.owned.delete(c.name);
      this.dirty.add(key);
    }
    for (const dn of affected) {
      const d = this.devices.get(dn)!;
      this.resolveDevice(dn, d);
    }
  }

  /** Adds the devices with an address inside p (of either family: the datapath's key space is one). */
  private devicesWithin(p: Prefix, out: Set<string>) {
    const add = (net: bigint, devs: Map<string, number>) => {
      if (p.len < NET_LEN) {
        if ((net & MASKS[p.len]) === p.value) for (const dn of devs.keys()) out.add(dn);
        return;
      }
      for (const dn of devs.keys()) {
        if (this.devices.get(dn)!.addrs.some((a) => (a.prefix.value & MASKS[p.len]) === p.value)) out.add(dn);
      }
    };
    if (p.len >= NET_LEN) {
      const net = p.value & MASKS[NET_LEN];
      const devs = this.devByNet.get(net);
      if (devs) add(net, devs);
    } else {
      for (const [net, devs] of this.devByNet) add(net, devs);
    }
  }

  private indexNet(name: string, a: DevAddr, add: boolean) {
    const net = a.prefix.value & MASKS[NET_LEN];
    let m = this.devByNet.get(net);
    if (add) {
      if (!m) this.devByNet.set(net, (m = new Map()));
      m.set(name, (m.get(name) ?? 0) + 1);
    } else if (m) {
      const n = (m.get(name) ?? 0) - 1;
      if (n > 0) m.set(name, n);
      else m.delete(name);
      if (m.size === 0) this.devByNet.delete(net);
    }
  }

  private indexSegmentLabels(name: string, doc: Segment, add: boolean) {
    const keys = Object.keys(doc.spec.selector).sort();
    if (keys.length === 0) return;
    const k = labelKey(keys[0], doc.spec.selector[keys[0]]);
    let set = this.segByLabel.get(k);
    if (add) {
      if (!set) this.segByLabel.set(k, (set = new Set()));
      set.add(name);
    } else if (set) {
      set.delete(name);
      if (set.size === 0) this.segByLabel.delete(k);
    }
  }

  private devicesSelectedBy(seg: Segment, out: Set<string>) {
    const sel = seg.spec.selector;
    const keys = Object.keys(sel).sort();
    if (keys.length === 0) return;
    for (const dn of this.devByLabel.get(labelKey(keys[0], sel[keys[0]])) ?? []) {
      if (selectorMatches(sel, this.devices.get(dn)!.doc.metadata.labels)) out.add(dn);
    }
  }

  /** Prefixes of a segment that it owns (first claimant), in its order. */
  private ownedPrefixes(name: string): Prefix[] {
    let list = this.owned.get(name);
    if (list) return list;
    const s = this.segments.get(name);
    if (!s) return [];
    list = s.prefixes.filter((p, idx) => {
      const c = this.cidrClaims.get(prefixKey(p))?.[0];
      return c !== undefined && c.name === name && c.idx === idx;
    });
    this.owned.set(name, list);
    return list;
  }

  // ---- devices ----------------------------------------------------------------

  private indexDeviceLabels(name: string, doc: Device, add: boolean) {
    for (const [k, v] of Object.entries(doc.metadata.labels ?? {})) {
      const lk = labelKey(k, v);
      let set = this.devByLabel.get(lk);
      if (add) {
        if (!set) this.devByLabel.set(lk, (set = new Set()));
        set.add(name);
      } else if (set) {
        set.delete(name);
        if (set.size === 0) this.devByLabel.delete(lk);
      }
    }
  }

  private selecting(labels: Record<string, string> | undefined): string[] {
    if (!labels) return [];
    const found = new Set<string>();
    for (const [k, v] of Object.entries(labels)) {
      for (const sn of this.segByLabel.get(labelKey(k, v)) ?? []) {
        if (selectorMatches(this.segments.get(sn)!.doc.spec.selector, labels)) found.add(sn);
      }
    }
    return [...found].sort(cmpStr);
  }

  /** Recomputes a device's addresses and claims; `old` is its state before the change. */
  private resolveDevice(name: string, old: DevState | undefined) {
    for (const a of old?.addrs ?? []) {
      removeClaim(this.hostClaims, a.key, name, a.idx);
      this.indexNet(name, a, false);
      this.dirty.add(a.key);
    }
    this.warnDevs.add(name);
    const d = this.devices.get(name);
    if (!d) return;
    d.sel = this.selecting(d.doc.metadata.labels);
    const owned = d.sel.map((s) => this.ownedPrefixes(s));
    d.addrs = [];
    d.doc.spec.addresses.forEach((text, idx) => {
      const addr = parseAddress(text);
      if (!addr) return; // validation rejects these
      let segment: string | undefined;
      if (d.sel.length > 0) {
        let best = -1;
        d.sel.forEach((s, i) => {
          for (const p of owned[i]) {
            if (p.family === addr.family && (addr.value & MASKS[p.len]) === p.value && p.len > best) {
              best = p.len;
              segment = s;
            }
          }
        });
        segment ??= d.sel[0];
      } else {
        segment = this.lpm.lookup(addr.value);
      }
      const prefix = hostPrefix(addr);
      const key = prefixKey(prefix);
      const da: DevAddr = { idx, prefix, key, segment: segment ?? null };
      d.addrs.push(da);
      this.indexNet(name, da, true);
      addClaim(this.hostClaims, key, { name, idx, prefix });
      this.dirty.add(key);
    });
  }

  // ---- rows -------------------------------------------------------------------

  private rowAt(key: string): Row | undefined {
    const host = this.hostClaims.get(key)?.[0];
    if (host) {
      const d = this.devices.get(host.name)!;
      const a = d.addrs.find((x) => x.idx === host.idx)!;
      let identity: number;
      let audit = false;
      if (this.quarantined.has(host.name)) {
        identity = IDENTITY.QUARANTINE;
      } else if (a.segment !== null) {
        identity = this.identities[a.segment];
        audit = this.segments.get(a.segment)!.doc.spec.mode === 'audit';
      } else {
        identity = IDENTITY.WORLD;
      }
      const entry: IpcacheEntry = { cidr: a.prefix.text, identity };
      if (audit) entry.audit = true;
      if (d.doc.spec.mac) entry.mac = d.doc.spec.mac;
      return { key, prefix: a.prefix, entry, line: canonicalIpcacheEntry(entry) };
    }
    const seg = this.cidrClaims.get(key)?.[0];
    if (seg) {
      const entry: IpcacheEntry = { cidr: seg.prefix.text, identity: this.identities[seg.name] };
      if (this.segments.get(seg.name)!.doc.spec.mode === 'audit') entry.audit = true;
      return { key, prefix: seg.prefix, entry, line: canonicalIpcacheEntry(entry) };
    }
    return undefined;
  }

  // ---- warnings ---------------------------------------------------------------

  private segmentWarnings(name: string): string[] {
    const out: string[] = [];
    this.segments.get(name)?.prefixes.forEach((p, idx) => {
      const owner = this.cidrClaims.get(prefixKey(p))![0];
      if (owner.name !== name || owner.idx !== idx) out.push(`segments ${owner.name} and ${name} both claim ${p.text}; ${owner.name} keeps it`);
    });
    return out;
  }

  private deviceWarnings(name: string): string[] {
    const out: string[] = [];
    const d = this.devices.get(name);
    if (!d) return out;
    if (d.sel.length > 1) {
      out.push(`device ${name} is selected by segments ${d.sel.join(', ')}; each address joins the one with the most specific CIDR holding it, else ${d.sel[0]}`);
    }
    for (const a of d.addrs) {
      if (a.segment === null && !this.quarantined.has(name)) {
        out.push(`device ${name} (${d.doc.spec.addresses[a.idx]}) is in no segment; it counts as world`);
      }
      const owner = this.hostClaims.get(a.key)![0];
      if (owner.name !== name || owner.idx !== a.idx) {
        out.push(`devices ${owner.name} and ${name} both claim ${a.prefix.text}; ${owner.name} keeps it`);
        continue;
      }
      const seg = this.cidrClaims.get(a.key)?.[0];
      if (seg) out.push(`device ${name} address ${a.prefix.text} is also a CIDR of segment ${seg.name}; the device entry wins`);
    }
    return out;
  }
}
