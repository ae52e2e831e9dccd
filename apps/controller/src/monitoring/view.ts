// SPDX-License-Identifier: Apache-2.0
/**
 * What monitoring needs to know of the current policy, rebuilt on each
 * generation: which device owns an address, which segment a device is in and
 * what its anomalies do, identity names, rule infos.
 */
import type { Bundle, RuleInfo } from '../compiler/compile';
import { formatAddress, parseAddress, parseCidr, PrefixIndex } from '../policy/net';
import type { Device, Document, PostureRule, Segment } from '../policy/schema';
import { selectingSegments } from '../policy/selectors';
import { trimOldest } from './bounded';

export class PolicyView {
  readonly deviceByAddress = new Map<string, string>();
  readonly devices = new Map<string, Device>();
  readonly segments = new Map<string, Segment>();
  readonly segmentOfDevice = new Map<string, string>();
  readonly postureRules: PostureRule[] = [];
  readonly identityNames = new Map<number, string>();
  readonly rules = new Map<number, RuleInfo>();

  constructor(
    readonly docs: readonly Document[],
    readonly bundle: Bundle | null,
    /** When each device document was last written (ms): lastSeenWithin starts counting from it. */
    readonly deviceSince: Map<string, number> = new Map(),
  ) {
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
    for (const [name, id] of Object.entries(bundle?.identities ?? {})) this.identityNames.set(id, name);
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
      trimOldest(this.canonical, 50_000);
    }
    return canonical && canonical !== address ? this.deviceByAddress.get(canonical) : undefined;
  }
  private readonly canonical = new Map<string, string>();

  identityName(id: number): string {
    return this.identityNames.get(id) ?? (id === 1 ? 'world' : id === 2 ? 'host' : id === 3 ? 'quarantine' : `identity-${id}`);
  }

  onAnomaly(device: string): 'alert' | 'quarantine' {
    const seg = this.segments.get(this.segmentOfDevice.get(device) ?? '');
    return seg?.spec.onAnomaly ?? 'alert';
  }
}
