// SPDX-License-Identifier: Apache-2.0
/**
 * The map zoomed into one segment: its devices as nodes (a known Device by
 * name, an unknown source by address, marked), the segments they talk to as
 * nodes around them, and an edge per (device, peer, verdict) with the packets
 * and bytes of the page's flow rows. Pure: tested in zoom.spec.ts.
 */
import type { Flow } from './flows';

export interface ZoomNode {
  id: string;
  /** A device of the zoomed segment, or a peer segment. */
  kind: 'device' | 'segment';
  label: string;
  unknown: boolean;
}

export interface ZoomEdge {
  src: string;
  dst: string;
  verdict: string;
  packets: number;
  bytes: number;
  flows: Flow[];
}

export interface Zoomed {
  segment: string;
  nodes: ZoomNode[];
  edges: ZoomEdge[];
}

const deviceId = (address: string) => `device:${address}`;
const segmentId = (segment: string) => `segment:${segment}`;

/**
 * `deviceOf` names an address's Device; `unknown` holds the addresses the
 * controller lists as unknown devices of this segment (shown even before a
 * flow of theirs is in the page).
 */
export function zoomInto(segment: string, flows: readonly Flow[], deviceOf: (address: string) => string | undefined, unknown: readonly string[] = []): Zoomed {
  const nodes = new Map<string, ZoomNode>();
  const edges = new Map<string, ZoomEdge>();
  const unknownSet = new Set(unknown);
  const device = (address: string) => {
    const name = deviceOf(address);
    // one node per Device, whatever address it used
    const id = name ? `device:${name}` : deviceId(address);
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'device', label: name ?? address, unknown: !name || unknownSet.has(address) });
    return id;
  };
  const peer = (seg: string) => {
    const id = segmentId(seg);
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'segment', label: seg, unknown: false });
    return id;
  };
  for (const a of unknown) device(a);
  for (const f of flows) {
    const fromHere = f.srcSegment === segment;
    const toHere = f.dstSegment === segment;
    if (!fromHere && !toHere) continue;
    const src = fromHere ? device(f.src) : peer(f.srcSegment);
    // within the segment, device to device; otherwise to the peer segment
    const dst = toHere ? device(f.dst) : peer(f.dstSegment);
    const k = `${src}|${dst}|${f.verdict}`;
    let e = edges.get(k);
    if (!e) edges.set(k, (e = { src, dst, verdict: f.verdict, packets: 0, bytes: 0, flows: [] }));
    e.packets += f.packets;
    e.bytes += f.bytes;
    e.flows.push(f);
  }
  const order = (n: ZoomNode) => `${n.kind === 'device' ? 0 : 1}${n.label}`;
  return { segment, nodes: [...nodes.values()].sort((a, b) => order(a).localeCompare(order(b))), edges: [...edges.values()] };
}
