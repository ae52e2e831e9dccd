// SPDX-License-Identifier: Apache-2.0
/**
 * What a device's MUD announcement proposes (DESIGN.md "MUD"): the documents
 * of its MUD file (mud.ts) and the Device, found by MAC or address among the
 * stored ones (else a new `mud-MAC` Device), labelled with its device type so
 * it joins the type's Segment. Whether the proposal applies without review:
 * a Segment with `spec.mud: auto` that is the device type's own, or that
 * holds the device now (its address in the Segment's CIDRs, or its labels
 * selected).
 */
import { parseAddress, parseCidr, prefixContains } from '../policy/net';
import { API_VERSION, type Document } from '../policy/schema';
import { selectorMatches } from '../policy/selectors';
import type { StoredDocument } from '../store/types';
import type { MudImport } from './mud';

export interface Announcement {
  url: string;
  /** The Device, when the announcement names it (a certificate issued to it). */
  device?: string;
  mac?: string | null;
  address?: string | null;
  enforcer?: string | null;
  /** dhcpv4 (option 161), dhcpv6 (option 112), certificate (id-pe-mud-url), api. */
  source: string;
}

interface DeviceSpecLike {
  mac?: string;
  addresses?: string[];
  [k: string]: unknown;
}

/** The stored Device this announcement is about: same MAC, else an address it lists. */
export function findDevice(devices: StoredDocument[], a: Announcement): StoredDocument | null {
  const mac = a.mac?.toLowerCase();
  return (
    (a.device ? devices.find((d) => d.name === a.device) : undefined) ??
    (mac ? devices.find((d) => (d.spec as DeviceSpecLike).mac === mac) : undefined) ??
    (a.address ? devices.find((d) => ((d.spec as DeviceSpecLike).addresses ?? []).includes(a.address!)) : undefined) ??
    null
  );
}

/** The name the device gets when no Device exists for it yet. */
export function newDeviceName(a: Announcement): string | null {
  if (a.mac) return `mud-${a.mac.toLowerCase().replace(/[^0-9a-f]/g, '')}`;
  if (a.address) return `mud-${a.address.toLowerCase().replace(/[^0-9a-f]+/g, '-').replace(/^-+|-+$/g, '')}`.slice(0, 63);
  return null;
}

export function deviceDocument(r: MudImport, existing: StoredDocument | null, a: Announcement, name: string): Document {
  if (existing) {
    const spec = { ...(existing.spec as DeviceSpecLike) };
    if (a.mac && !spec.mac) spec.mac = a.mac.toLowerCase();
    if (a.address && !(spec.addresses ?? []).includes(a.address)) spec.addresses = [...(spec.addresses ?? []), a.address];
    return { apiVersion: API_VERSION, kind: 'Device', metadata: { name: existing.name, labels: { ...existing.labels, ...r.deviceLabels } }, spec } as Document;
  }
  return {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name, labels: { ...r.deviceLabels } },
    spec: { ...(a.mac ? { mac: a.mac.toLowerCase() } : {}), addresses: [a.address!] },
  } as Document;
}

/** The type's stored Segment keeps its `mud` setting (and the operator's other choices of mode) over a re-import. */
export function keepSegmentChoices(docs: Document[], segments: StoredDocument[]): Document[] {
  return docs.map((d) => {
    if (d.kind !== 'Segment') return d;
    const stored = segments.find((s) => s.name === d.metadata.name);
    const keep = stored ? (stored.spec as { mud?: string; mode?: string; onAnomaly?: string }) : null;
    if (!keep) return d;
    return { ...d, spec: { ...d.spec, ...(keep.mud ? { mud: keep.mud } : {}), ...(keep.mode ? { mode: keep.mode } : {}), ...(keep.onAnomaly ? { onAnomaly: keep.onAnomaly } : {}) } } as Document;
  });
}

/** The Segment with `mud: auto` that lets this proposal apply without review, or null. */
export function autoSegment(segments: StoredDocument[], typeName: string, device: StoredDocument | null, address: string | null): string | null {
  const addr = address ? parseAddress(address) : null;
  for (const s of segments) {
    const spec = s.spec as { mud?: string; cidrs?: string[]; selector?: Record<string, string> };
    if (spec.mud !== 'auto') continue;
    if (s.name === typeName) return s.name;
    if (addr && (spec.cidrs ?? []).some((c) => prefixContains(parseCidr(c), addr))) return s.name;
    if (device && Object.keys(spec.selector ?? {}).length && selectorMatches(spec.selector ?? {}, device.labels)) return s.name;
  }
  return null;
}
