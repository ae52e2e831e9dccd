// SPDX-License-Identifier: Apache-2.0
/**
 * What the controller's features need to know of one generation, built once
 * when it is published (current-generation.ts): the bundle, identity names
 * (model/generation/names.ts, the one mapping), rule infos, which device owns
 * an address, which segment a device is in and what its anomalies do.
 */
import { trimOldest } from '../../../common/src/lru';
import type { Bundle, RuleInfo } from '../../../../model/generation/bundle';
import { IdentityNames } from '../../../../model/generation/names';
import { formatAddress, parseAddress, parseCidr, PrefixIndex } from '../policy/net';
import type { Device, Document, PostureRule, Segment } from '../policy/schema';
import { selectingSegments } from '../policy/selectors';

/** Distinct address spellings remembered by deviceOf (records spell addresses canonically: this stays small). */
const CANONICAL_MAX = 50_000;

/** Documents created, changed or removed between two generations' views. */
export interface DocumentsChange {
  upsert: readonly Document[];
  remove: readonly { kind: string; name: string }[];
}

/** The device part of a view, and what it takes to build the next one from it. */
interface Devices {
  segments: Map<string, Segment>;
  postureRules: PostureRule[];
  devices: Map<string, Device>;
  segmentOfDevice: Map<string, string>;
  deviceByAddress: Map<string, string>;
  byCidr: PrefixIndex<string>;
  selecting: (labels: Record<string, string> | undefined) => Segment[];
  /** Each device's distinct addresses, as deviceByAddress spells them. */
  addressesOf: Map<string, string[]>;
  /** How many devices give each address: one given by several goes to the last in document order. */
  claims: Map<string, number>;
}

export class GenerationView {
  readonly generation: number;
  readonly names: IdentityNames;
  readonly deviceByAddress: Map<string, string>;
  readonly devices: Map<string, Device>;
  readonly segments: Map<string, Segment>;
  readonly segmentOfDevice: Map<string, string>;
  readonly postureRules: PostureRule[];
  readonly rules = new Map<number, RuleInfo>();
  private readonly part: Devices;

  constructor(
    /** Every document, by kind then name (as the store lists them). */
    readonly docs: readonly Document[],
    readonly bundle: Bundle | null,
    /** When each device document was last written (ms): lastSeenWithin starts counting from it. */
    readonly deviceSince: Map<string, number> = new Map(),
    /** The view before and what changed since (next()): its device part is carried over where it can be. */
    from?: { prev: GenerationView; change: DocumentsChange },
  ) {
    this.generation = bundle?.generation ?? 0;
    this.names = new IdentityNames(bundle?.identities);
    const part = (from && carried(docs, from.prev.part, from.change)) ?? devicesOf(docs);
    this.part = part;
    this.segments = part.segments;
    this.postureRules = part.postureRules;
    this.devices = part.devices;
    this.segmentOfDevice = part.segmentOfDevice;
    this.deviceByAddress = part.deviceByAddress;
    for (const r of bundle?.rules ?? []) this.rules.set(r.ruleId, r);
  }

  /**
   * The view of a newer generation from this one and the documents changed
   * since (deviceSince: the new generation's), equal to the one built from
   * every document; maps nothing changed are shared with this view (views are
   * read only).
   */
  next(change: DocumentsChange, bundle: Bundle | null, deviceSince: Map<string, number>): GenerationView {
    return new GenerationView(patchDocuments(this.docs, change), bundle, deviceSince, { prev: this, change });
  }

  /** The device owning an address as a flow record writes it (normalised once per distinct string). */
  deviceOf(address: string): string | undefined {
    const hit = this.deviceByAddress.get(address);
    if (hit !== undefined || this.deviceByAddress.size === 0) return hit;
    // Every record's source and destination land here when no Device claims them: parse and
    // format each distinct spelling once (records spell addresses canonically, so this is rare work).
    let canonical = this.canonical.get(address);
    if (canonical === undefined) {
      const a = parseAddress(address);
      canonical = a ? formatAddress(a) : '';
      this.canonical.set(address, canonical);
      trimOldest(this.canonical, CANONICAL_MAX);
    }
    return canonical && canonical !== address ? this.deviceByAddress.get(canonical) : undefined;
  }
  private readonly canonical = new Map<string, string>();

  /** The segment name of an identity, `identity-N` when this generation does not know it (monitoring, reports). */
  identityName(id: number): string {
    return this.names.nameOf(id) ?? `identity-${id}`;
  }

  /** The segment name of an identity, `unknown` when this generation does not know it (flow counters, events). */
  segmentOf(id: number): string {
    return this.names.segmentOf(id);
  }

  /** The Policy document a rule id comes from; null for 0 (default deny) or unknown. */
  policyOf(ruleId: number): string | null {
    return ruleId ? (this.rules.get(ruleId)?.policy ?? null) : null;
  }

  onAnomaly(device: string): 'alert' | 'quarantine' {
    const seg = this.segments.get(this.segmentOfDevice.get(device) ?? '');
    return seg?.spec.onAnomaly ?? 'alert';
  }
}

const byKindName = (ak: string, an: string, bk: string, bn: string) => (ak < bk ? -1 : ak > bk ? 1 : an < bn ? -1 : an > bn ? 1 : 0);

/** The index of (kind, name) in documents sorted by kind then name; else -(insertion point) - 1. */
function find(docs: readonly Document[], kind: string, name: string): number {
  let lo = 0;
  let hi = docs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = byKindName(docs[mid].kind, docs[mid].metadata.name, kind, name);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** Sorted documents with a change made: in place on a copy for a few, sorted again for many. */
export function patchDocuments(docs: readonly Document[], change: DocumentsChange): readonly Document[] {
  const n = change.upsert.length + change.remove.length;
  if (n === 0) return docs;
  if (n > 256) {
    const key = (kind: string, name: string) => `${kind}/${name}`;
    const m = new Map(docs.map((d) => [key(d.kind, d.metadata.name), d]));
    for (const r of change.remove) m.delete(key(r.kind, r.name));
    for (const d of change.upsert) m.set(key(d.kind, d.metadata.name), d);
    return [...m.values()].sort((a, b) => byKindName(a.kind, a.metadata.name, b.kind, b.metadata.name));
  }
  const out = docs.slice();
  for (const r of change.remove) {
    const i = find(out, r.kind, r.name);
    if (i >= 0) out.splice(i, 1);
  }
  for (const d of change.upsert) {
    const i = find(out, d.kind, d.metadata.name);
    if (i >= 0) out[i] = d;
    else out.splice(-i - 1, 0, d);
  }
  return out;
}

/** A device's segment (its first selecting segment, else the first whose CIDRs hold an address of it) and distinct addresses. */
function deviceInfo(d: Device, part: Pick<Devices, 'byCidr' | 'selecting'>): { segment: string; addresses: string[] } {
  let seg: string | undefined = part.selecting(d.metadata.labels)[0]?.metadata.name;
  const addresses: string[] = [];
  for (const a of d.spec.addresses) {
    const addr = parseAddress(a);
    if (!addr) continue;
    const k = formatAddress(addr);
    if (!addresses.includes(k)) addresses.push(k);
    seg ??= part.byCidr.lookup(addr.value);
  }
  return { segment: seg ?? 'world', addresses };
}

/** The device part from every document. */
function devicesOf(docs: readonly Document[]): Devices {
  const segments = new Map<string, Segment>();
  const postureRules: PostureRule[] = [];
  const segs: Segment[] = [];
  for (const d of docs) {
    if (d.kind === 'Segment') {
      segments.set(d.metadata.name, d);
      segs.push(d);
    } else if (d.kind === 'PostureRule') postureRules.push(d);
  }
  const byCidr = new PrefixIndex<string>();
  for (const s of segs) for (const c of s.spec.cidrs) byCidr.add(parseCidr(c), s.metadata.name);
  const part: Devices = {
    segments,
    postureRules,
    devices: new Map(),
    segmentOfDevice: new Map(),
    deviceByAddress: new Map(),
    byCidr,
    selecting: selectingSegments(segs),
    addressesOf: new Map(),
    claims: new Map(),
  };
  for (const d of docs) {
    if (d.kind !== 'Device') continue;
    const name = d.metadata.name;
    const info = deviceInfo(d, part);
    part.devices.set(name, d);
    part.segmentOfDevice.set(name, info.segment);
    part.addressesOf.set(name, info.addresses);
    for (const a of info.addresses) {
      part.deviceByAddress.set(a, name);
      part.claims.set(a, (part.claims.get(a) ?? 0) + 1);
    }
  }
  return part;
}

/**
 * The device part of `prev` brought to `docs` by what changed; null when it
 * cannot be, exactly: a segment changed (any device's may have), or an
 * address of a changed device is also another device's.
 */
function carried(docs: readonly Document[], prev: Devices, change: DocumentsChange): Devices | null {
  const kinds = new Set<string>([...change.upsert.map((d) => d.kind), ...change.remove.map((r) => r.kind)]);
  if (kinds.has('Segment')) return null;
  const postureRules = kinds.has('PostureRule') ? docs.filter((d): d is PostureRule => d.kind === 'PostureRule') : prev.postureRules;
  if (!kinds.has('Device')) return { ...prev, postureRules };
  const changed = new Set<string>();
  for (const r of change.remove) if (r.kind === 'Device') changed.add(r.name);
  const upserted = change.upsert.filter((d): d is Device => d.kind === 'Device');
  for (const d of upserted) changed.add(d.metadata.name);
  const deviceByAddress = new Map(prev.deviceByAddress);
  const claims = new Map(prev.claims);
  const addressesOf = new Map(prev.addressesOf);
  for (const name of changed) {
    for (const a of prev.addressesOf.get(name) ?? []) {
      if (claims.get(a)! > 1) return null;
      claims.delete(a);
      deviceByAddress.delete(a);
    }
    addressesOf.delete(name);
  }
  const segmentOf = new Map<string, string>();
  for (const d of upserted) {
    const info = deviceInfo(d, prev);
    for (const a of info.addresses) {
      if (claims.has(a)) return null;
      claims.set(a, 1);
      deviceByAddress.set(a, d.metadata.name);
    }
    addressesOf.set(d.metadata.name, info.addresses);
    segmentOf.set(d.metadata.name, info.segment);
  }
  // In document order, as every document gives them.
  const devices = new Map<string, Device>();
  const segmentOfDevice = new Map<string, string>();
  for (const d of docs) {
    if (d.kind !== 'Device') continue;
    devices.set(d.metadata.name, d);
    segmentOfDevice.set(d.metadata.name, segmentOf.get(d.metadata.name) ?? prev.segmentOfDevice.get(d.metadata.name)!);
  }
  return { ...prev, postureRules, devices, segmentOfDevice, deviceByAddress, addressesOf, claims };
}
