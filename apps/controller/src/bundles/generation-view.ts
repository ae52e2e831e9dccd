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

export class GenerationView {
  readonly generation: number;
  readonly names: IdentityNames;
  readonly deviceByAddress = new Map<string, string>();
  readonly devices = new Map<string, Device>();
  readonly segments = new Map<string, Segment>();
  readonly segmentOfDevice = new Map<string, string>();
  readonly postureRules: PostureRule[] = [];
  readonly rules = new Map<number, RuleInfo>();

  constructor(
    readonly docs: readonly Document[],
    readonly bundle: Bundle | null,
    /** When each device document was last written (ms): lastSeenWithin starts counting from it. */
    readonly deviceSince: Map<string, number> = new Map(),
  ) {
    this.generation = bundle?.generation ?? 0;
    this.names = new IdentityNames(bundle?.identities);
    const segs: Segment[] = [];
    for (const d of docs) {
      if (d.kind === 'Segment') {
        this.segments.set(d.metadata.name, d);
        segs.push(d);
      } else if (d.kind === 'PostureRule') this.postureRules.push(d);
    }
    const byCidr = new PrefixIndex<string>();
    for (const s of segs) for (const c of s.spec.cidrs) byCidr.add(parseCidr(c), s.metadata.name);
    const selecting = selectingSegments(segs);
    for (const d of docs) {
      if (d.kind !== 'Device') continue;
      this.devices.set(d.metadata.name, d);
      let seg: string | undefined = selecting(d.metadata.labels)[0]?.metadata.name;
      for (const a of d.spec.addresses) {
        const addr = parseAddress(a);
        if (!addr) continue;
        this.deviceByAddress.set(formatAddress(addr), d.metadata.name);
        seg ??= byCidr.lookup(addr.value);
      }
      this.segmentOfDevice.set(d.metadata.name, seg ?? 'world');
    }
    for (const r of bundle?.rules ?? []) this.rules.set(r.ruleId, r);
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
