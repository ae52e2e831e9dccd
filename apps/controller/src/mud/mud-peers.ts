// SPDX-License-Identifier: Apache-2.0
/**
 * The remote end of a MUD ACE as policy endpoints (DESIGN.md "MUD"):
 * - a network: a Segment `TYPE-peer-N` with that CIDR;
 * - a DNS name (`ietf-acldns:dst-dnsname`): a `{ fqdn: NAME }` entry of `to`
 *   (names are learnt from the answers the device resolves, so a name is a
 *   destination only: a to-device ACE naming its source by DNS is refused,
 *   unless it is a reply leg, which needs no rule);
 * - `local-networks`: the site's own segments (every Segment not made for a
 *   MUD peer network) and the device type's own;
 * - `same-manufacturer`, `manufacturer`: the Segments labelled
 *   `mud-manufacturer: AUTHORITY` (every imported device type carries the
 *   authority of its MUD URL; a site may label its own Segment so too);
 * - `model`: the Segment labelled `mud-model: modelId(URL)` (the imported
 *   device type of that MUD URL).
 * A device is in one segment only (compiler/ipcache.ts), so abstractions name
 * device-type segments rather than overlapping selector segments.
 * - `my-controller`, `controller`: the segment given by `--controller URI=SEGMENT`
 *   (`my-controller=SEGMENT` or the file's mud-url for my-controller), or a
 *   Segment labelled `mud-controller: URI` (`my-controller` for my-controller).
 */
import { API_VERSION, type Segment } from '../policy/schema';
import { deviceTypeName, Entry, MUD_LABELS, modelId, MudIssue, typeNameOfUrl } from './mud-model';

export type Endpoint = string | { fqdn: string };

export interface SiteContext {
  /** The site's segments (name and labels): local-networks and controller labels resolve against them. */
  segments?: Array<{ name: string; labels?: Record<string, string>; cidrs?: readonly string[] }>;
  /** `--controller URI=SEGMENT`. */
  controllers?: Record<string, string>;
}

export interface MappedPeer {
  endpoints: Endpoint[];
  /** A short stable name part for the policy: world, peer-1, local, mfr-acme-com, ... */
  slug: string;
}

const slugOf = (s: string, max = 30) => deviceTypeName(s).slice(0, max).replace(/-+$/, '');

export class PeerMapper {
  /** Segments the mapping made, by name. */
  readonly segments = new Map<string, Segment>();
  private readonly cidrs = new Map<string, string>();

  constructor(
    private readonly name: string,
    /** The labels of the device type's own Segment (mud-manufacturer, mud-model). */
    private readonly ownLabels: Record<string, string>,
    private readonly site: SiteContext,
    private readonly issues: MudIssue[],
  ) {}

  /** The segments (the site's, and the type's own) whose labels say key: value. */
  private labelled(key: string, value: string): string[] {
    const names = (this.site.segments ?? []).filter((s) => s.name !== this.name && s.labels?.[key] === value).map((s) => s.name);
    if (this.ownLabels[key] === value) names.push(this.name);
    return [...new Set(names)].sort();
  }

  private segment(name: string, spec: { cidrs?: string[]; selector?: Record<string, string> }, labels: Record<string, string>): string {
    if (!this.segments.has(name)) {
      this.segments.set(name, { apiVersion: API_VERSION, kind: 'Segment', metadata: { name, labels }, spec: { cidrs: spec.cidrs ?? [], selector: spec.selector ?? {}, mode: 'enforce', onAnomaly: 'alert' } } as Segment);
    }
    return name;
  }

  map(e: Entry): MappedPeer | null {
    const p = e.peer;
    const issue = (message: string) => {
      this.issues.push({ where: e.where, field: e.peerField, message });
      return null;
    };
    switch (p.kind) {
      case 'world':
        return { endpoints: ['world'], slug: 'world' };
      case 'cidr': {
        // A prefix belongs to one segment: one the site has already (another type's peer, or the site's own) is named, not claimed again.
        const claimed = (this.site.segments ?? []).find((s) => s.name !== this.name && s.cidrs?.includes(p.cidr))?.name;
        if (claimed) return { endpoints: [claimed], slug: claimed };
        let seg = this.cidrs.get(p.cidr);
        if (!seg) this.cidrs.set(p.cidr, (seg = this.segment(`${this.name}-peer-${this.cidrs.size + 1}`, { cidrs: [p.cidr] }, { 'mud-peer-of': this.name })));
        return { endpoints: [seg], slug: seg.slice(this.name.length + 1) };
      }
      case 'fqdn':
        if (e.dir === 'to-device') {
          return issue(`a DNS name (${p.name}) as the source of connections to the device cannot be mapped: Cordon learns a name's addresses from the answers the device resolves, so an fqdn is a destination only`);
        }
        return { endpoints: [{ fqdn: p.name }], slug: slugOf(p.name) };
      case 'local-networks': {
        const local = (this.site.segments ?? []).filter((s) => !s.labels?.['mud-peer-of'] && s.name !== this.name).map((s) => s.name);
        if (!local.length) return issue('local-networks maps to the site\'s own segments, and the site has none yet: apply its Segments first');
        return { endpoints: [...new Set([this.name, ...local])].sort(), slug: 'local' };
      }
      case 'manufacturer': {
        const segs = this.labelled(MUD_LABELS.manufacturer, p.authority);
        if (!segs.length) return issue(`no device type of manufacturer ${p.authority} is known: import one of its MUD files first, or label a Segment ${MUD_LABELS.manufacturer}: "${p.authority}"`);
        return { endpoints: segs, slug: p.same ? 'same-manufacturer' : `mfr-${slugOf(p.authority, 20)}` };
      }
      case 'model': {
        const segs = this.labelled(MUD_LABELS.model, modelId(p.url));
        if (!segs.length) return issue(`the model ${p.url} is not known: import its MUD file first, or label a Segment ${MUD_LABELS.model}: "${modelId(p.url)}"`);
        return { endpoints: segs, slug: `model-${slugOf(typeNameOfUrl(p.url), 20)}` };
      }
      case 'controller': {
        const flags = this.site.controllers ?? {};
        const key = p.mine ? 'my-controller' : p.uri;
        const seg =
          flags[p.uri] ??
          (p.mine ? flags['my-controller'] : undefined) ??
          (this.site.segments ?? []).find((s) => s.labels?.[MUD_LABELS.controller] === key)?.name;
        if (!seg) {
          return issue(`${p.mine ? `my-controller (the controller of ${p.uri})` : `controller ${p.uri}`} has no segment: map it with --controller ${key}=SEGMENT, or label a Segment ${MUD_LABELS.controller}: "${key.length <= 63 ? key : '(use the flag: the URI is longer than a label value)'}"`);
        }
        return { endpoints: [seg], slug: `ctl-${slugOf(seg, 20)}` };
      }
    }
  }
}
