// SPDX-License-Identifier: Apache-2.0
/**
 * The map: segments as nodes on a circle, an edge per (source, destination,
 * verdict) with traffic, coloured by verdict, thicker with more packets
 * (cordon_flow_packets_total). A click on an edge lists its flows; a click on
 * a segment zooms into it: its devices (unknown ones marked) and the
 * segments they talk to, from the page's flow rows (zoom.ts).
 */
import { get } from '../api';
import { h, replace, s } from '../dom';
import { circleLayout, edgeWidth, VERDICT_COLOUR, type PairTraffic } from '../pairs';
import type { ConsoleState } from '../state';
import { flowTable } from './flow-list';
import { count, type View } from './view';
import { zoomInto, type ZoomEdge } from '../zoom';

const W = 760;
const H = 520;
const NODE_R = 34;
const DEVICE_R = 26;

export function mapView(state: ConsoleState): View {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'map', role: 'img', 'aria-label': 'segments and the flows between them' });
  const detail = h('aside', { class: 'detail', id: 'map-detail' }, h('p', { class: 'muted' }, 'Click an edge to list its flows.'));
  const legend = h('p', { class: 'legend' }, ...['allow', 'deny', 'audit'].map((v) => h('span', { class: `badge ${v}` }, v)), ' edge width grows with packets; a ring marks unknown devices; click a segment for its devices');
  let unknown = new Map<string, string[]>();
  let zoomed: string | null = null;
  let selectedZoomEdge: string | null = null;
  const back = h('button', { type: 'button', id: 'map-back', hidden: true, onclick: () => zoomTo(null) }, '← all segments');
  const title = h('span', { id: 'map-title' }, 'segments');

  function zoomTo(segment: string | null) {
    zoomed = segment;
    selected = null;
    selectedZoomEdge = null;
    back.hidden = segment === null;
    replace(title, segment === null ? 'segments' : `devices of ${segment}`);
    replace(detail, h('p', { class: 'muted' }, segment === null ? 'Click an edge to list its flows.' : 'Click an edge to list its flows; ← all segments to zoom out.'));
    draw();
  }

  function showZoomEdge(e: ZoomEdge, label: (id: string) => string) {
    selectedZoomEdge = `${e.src}|${e.dst}|${e.verdict}`;
    const flowDetail = h('div', { class: 'explain-slot' });
    replace(
      detail,
      h('h3', {}, `${label(e.src)} → ${label(e.dst)} `, h('span', { class: `badge ${e.verdict}` }, e.verdict)),
      h('p', {}, `${count(e.packets, 'packets')}, ${count(e.bytes, 'bytes')} in the page’s recent rows`),
      flowTable(state, e.flows.slice(0, 100), flowDetail),
      flowDetail,
    );
    draw();
  }
  let lastUnknown = 0;
  let selected: PairTraffic | null = null;

  function showEdge(p: PairTraffic) {
    selected = p;
    const flows = state.flows.between(p.src, p.dst, p.verdict);
    const flowDetail = h('div', { class: 'explain-slot' });
    replace(
      detail,
      h('h3', {}, `${p.src} → ${p.dst} `, h('span', { class: `badge ${p.verdict}` }, p.verdict)),
      h('p', {}, `${count(p.packets, 'packets')}, ${count(p.bytes, 'bytes')} since the controller started`),
      flows.length ? flowTable(state, flows.slice(0, 100), flowDetail) : h('p', { class: 'muted' }, 'no flow of this pair is in the page’s recent rows'),
      flowDetail,
    );
  }

  /** The path of an edge from a to b, bent to one side by its verdict so edges of a pair do not overlap; a loop when a is b. */
  function edgePath(a: { x: number; y: number }, b: { x: number; y: number }, verdict: string, self: boolean, r0: number): string {
    const order = ['allow', 'audit', 'deny'];
    if (self) {
      const r = 16 + 6 * order.indexOf(verdict);
      return `M ${a.x - 10} ${a.y - r0 + 4} a ${r} ${r} 0 1 1 20 0`;
    }
    const mx = (a.x + b.x) / 2;
    const my = (a.y + b.y) / 2;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const bend = 18 + 14 * order.indexOf(verdict);
    const cx = mx - (dy / len) * bend;
    const cy = my + (dx / len) * bend;
    const ex = b.x - (dx / len) * (r0 + 6);
    const ey = b.y - (dy / len) * (r0 + 6);
    return `M ${a.x} ${a.y} Q ${cx.toFixed(1)} ${cy.toFixed(1)} ${ex.toFixed(1)} ${ey.toFixed(1)}`;
  }

  function edge(attrs: Record<string, string | undefined>, verdict: string, packets: number, d: string, self: boolean, text: string, onclick: () => void) {
    return s(
      'path',
      { ...attrs, stroke: VERDICT_COLOUR[verdict] ?? '#888', 'stroke-width': edgeWidth(packets).toFixed(1), fill: 'none', onclick, d, 'marker-end': self ? undefined : `url(#arrow-${verdict})` },
      s('title', {}, text),
    );
  }

  function node(attrs: Record<string, string>, at: { x: number; y: number }, r: number, cls: string, label: string, marked: string | null, onclick?: () => void) {
    return s(
      'g',
      { ...attrs, class: `${attrs.class}${marked ? ' has-unknown' : ''}`, transform: `translate(${at.x} ${at.y})`, onclick },
      marked ? s('circle', { r: r + 6, class: 'unknown-ring' }) : null,
      s('circle', { r, class: cls }),
      s('text', { 'text-anchor': 'middle', dy: '0.35em' }, label),
      marked ? s('text', { 'text-anchor': 'middle', dy: r + 20, class: 'unknown-label' }, marked) : null,
      s('title', {}, `${label}${marked ? `: ${marked}` : ''}`),
    );
  }

  function frame(edges: SVGGElement, nodes: SVGGElement) {
    svg.replaceChildren();
    const defs = s('defs', {}, ...Object.entries(VERDICT_COLOUR).map(([v, c]) => s('marker', { id: `arrow-${v}`, viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: 5, markerHeight: 5, orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: c }))));
    svg.append(defs, edges, nodes);
  }

  function drawSegments() {
    const names = state.segments();
    const pos = circleLayout(names, W, H);
    const edges = s('g', { class: 'edges' });
    const nodes = s('g', { class: 'nodes' });
    for (const p of state.pairs) {
      const a = pos.get(p.src);
      const b = pos.get(p.dst);
      if (!a || !b) continue;
      const sel = selected && selected.src === p.src && selected.dst === p.dst && selected.verdict === p.verdict;
      const attrs = { class: `edge verdict-${p.verdict}${sel ? ' selected' : ''}`, 'data-src': p.src, 'data-dst': p.dst, 'data-verdict': p.verdict };
      edges.append(edge(attrs, p.verdict, p.packets, edgePath(a, b, p.verdict, p.src === p.dst, NODE_R), p.src === p.dst, `${p.src} → ${p.dst} ${p.verdict}: ${count(p.packets, 'packets')}`, () => showEdge(p)));
    }
    for (const n of names) {
      const u = unknown.get(n)?.length ?? 0;
      const cls = n === 'world' || n === 'host' ? 'world' : n === 'quarantine' ? 'quarantine' : 'segment';
      nodes.append(node({ class: 'node', 'data-segment': n }, pos.get(n)!, NODE_R, cls, n, u ? `${u} unknown` : null, () => zoomTo(n)));
    }
    frame(edges, nodes);
    if (names.length === 0) svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, 'no segments yet: apply some documents'));
  }

  function drawZoomed(segment: string) {
    const z = zoomInto(segment, state.flows.values(), state.deviceOf, unknown.get(segment) ?? []);
    const pos = circleLayout(z.nodes.map((n) => n.id), W, H);
    const label = (id: string) => z.nodes.find((n) => n.id === id)?.label ?? id;
    const edges = s('g', { class: 'edges' });
    const nodes = s('g', { class: 'nodes' });
    for (const e of z.edges) {
      const key = `${e.src}|${e.dst}|${e.verdict}`;
      const attrs = { class: `edge verdict-${e.verdict}${selectedZoomEdge === key ? ' selected' : ''}`, 'data-src': label(e.src), 'data-dst': label(e.dst), 'data-verdict': e.verdict };
      edges.append(edge(attrs, e.verdict, e.packets, edgePath(pos.get(e.src)!, pos.get(e.dst)!, e.verdict, e.src === e.dst, DEVICE_R), e.src === e.dst, `${label(e.src)} → ${label(e.dst)} ${e.verdict}: ${count(e.packets, 'packets')}`, () => showZoomEdge(e, label)));
    }
    for (const n of z.nodes) {
      const attrs: Record<string, string> = n.kind === 'device' ? { class: 'node device', 'data-device': n.label } : { class: 'node', 'data-segment': n.label };
      const onclick = n.kind === 'segment' ? () => zoomTo(n.label) : undefined;
      nodes.append(node(attrs, pos.get(n.id)!, n.kind === 'device' ? DEVICE_R : NODE_R, n.kind === 'device' ? 'device' : n.label === 'world' || n.label === 'host' ? 'world' : 'segment', n.label, n.unknown ? 'unknown' : null, onclick));
    }
    frame(edges, nodes);
    if (z.nodes.length === 0) svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, `no device of ${segment} in the page’s recent flows`));
  }

  function draw() {
    if (zoomed === null) drawSegments();
    else drawZoomed(zoomed);
  }

  async function refreshUnknown() {
    if (Date.now() - lastUnknown < 3000) return;
    lastUnknown = Date.now();
    try {
      const r = await get<{ items: { segment: string; address: string }[] }>('/v1/unknown-devices');
      unknown = new Map();
      for (const d of r.items) unknown.set(d.segment, [...(unknown.get(d.segment) ?? []), d.address]);
    } catch {
      /* shown on the next tick */
    }
  }

  const el = h('section', { id: 'view-map', class: 'view' }, h('h2', {}, 'Map: ', title, ' ', back), legend, h('div', { class: 'split' }, h('div', { class: 'map-wrap' }, svg), detail));
  return {
    el,
    refresh: () => {
      draw();
      void refreshUnknown();
    },
  };
}
