// SPDX-License-Identifier: Apache-2.0
/**
 * The map: segments as nodes on a circle, an edge per (source, destination,
 * verdict) with traffic, coloured by verdict, thicker with more packets
 * (cordon_flow_packets_total). A click on an edge lists its flows.
 */
import { get } from '../api';
import { h, replace, s } from '../dom';
import { circleLayout, edgeWidth, VERDICT_COLOUR, type PairTraffic } from '../pairs';
import type { ConsoleState } from '../state';
import { flowTable } from './flow-list';
import { count, type View } from './view';

const W = 760;
const H = 520;
const NODE_R = 34;

export function mapView(state: ConsoleState): View {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'map', role: 'img', 'aria-label': 'segments and the flows between them' });
  const detail = h('aside', { class: 'detail', id: 'map-detail' }, h('p', { class: 'muted' }, 'Click an edge to list its flows.'));
  const legend = h('p', { class: 'legend' }, ...['allow', 'deny', 'audit'].map((v) => h('span', { class: `badge ${v}` }, v)), ' edge width grows with packets; a ring marks unknown devices');
  let unknown = new Map<string, number>();
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

  function draw() {
    const names = state.segments();
    const pos = circleLayout(names, W, H);
    svg.replaceChildren();
    const edges = s('g', { class: 'edges' });
    const nodes = s('g', { class: 'nodes' });
    const order = ['allow', 'audit', 'deny'];
    for (const p of state.pairs) {
      const a = pos.get(p.src);
      const b = pos.get(p.dst);
      if (!a || !b) continue;
      const colour = VERDICT_COLOUR[p.verdict] ?? '#888';
      const width = edgeWidth(p.packets);
      const attrs = {
        class: `edge verdict-${p.verdict}${selected && selected.src === p.src && selected.dst === p.dst && selected.verdict === p.verdict ? ' selected' : ''}`,
        'data-src': p.src,
        'data-dst': p.dst,
        'data-verdict': p.verdict,
        stroke: colour,
        'stroke-width': width.toFixed(1),
        fill: 'none',
        onclick: () => showEdge(p),
      };
      let d: string;
      if (p.src === p.dst) {
        const k = order.indexOf(p.verdict);
        const r = 16 + 6 * k;
        d = `M ${a.x - 10} ${a.y - NODE_R + 4} a ${r} ${r} 0 1 1 20 0`;
      } else {
        // A curve bent to one side per direction and verdict, so edges of a pair do not overlap.
        const mx = (a.x + b.x) / 2;
        const my = (a.y + b.y) / 2;
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        const len = Math.hypot(dx, dy) || 1;
        const bend = 18 + 14 * order.indexOf(p.verdict);
        const cx = mx - (dy / len) * bend;
        const cy = my + (dx / len) * bend;
        const ex = b.x - (dx / len) * (NODE_R + 6);
        const ey = b.y - (dy / len) * (NODE_R + 6);
        d = `M ${a.x} ${a.y} Q ${cx.toFixed(1)} ${cy.toFixed(1)} ${ex.toFixed(1)} ${ey.toFixed(1)}`;
      }
      edges.append(s('path', { ...attrs, d, 'marker-end': p.src === p.dst ? undefined : `url(#arrow-${p.verdict})` }, s('title', {}, `${p.src} → ${p.dst} ${p.verdict}: ${count(p.packets, 'packets')}`)));
    }
    for (const n of names) {
      const at = pos.get(n)!;
      const u = unknown.get(n) ?? 0;
      nodes.append(
        s(
          'g',
          { class: `node${u ? ' has-unknown' : ''}`, 'data-segment': n, transform: `translate(${at.x} ${at.y})` },
          u ? s('circle', { r: NODE_R + 6, class: 'unknown-ring' }) : null,
          s('circle', { r: NODE_R, class: n === 'world' || n === 'host' ? 'world' : n === 'quarantine' ? 'quarantine' : 'segment' }),
          s('text', { 'text-anchor': 'middle', dy: '0.35em' }, n),
          u ? s('text', { 'text-anchor': 'middle', dy: NODE_R + 20, class: 'unknown-label' }, `${u} unknown`) : null,
          s('title', {}, `${n}${u ? `: ${u} unknown device(s)` : ''}`),
        ),
      );
    }
    const defs = s('defs', {}, ...Object.entries(VERDICT_COLOUR).map(([v, c]) => s('marker', { id: `arrow-${v}`, viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: 5, markerHeight: 5, orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: c }))));
    svg.append(defs, edges, nodes);
    if (names.length === 0) svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, 'no segments yet: apply some documents'));
  }

  async function refreshUnknown() {
    if (Date.now() - lastUnknown < 3000) return;
    lastUnknown = Date.now();
    try {
      const r = await get<{ items: { segment: string }[] }>('/v1/unknown-devices');
      unknown = new Map();
      for (const d of r.items) unknown.set(d.segment, (unknown.get(d.segment) ?? 0) + 1);
    } catch {
      /* shown on the next tick */
    }
  }

  const el = h('section', { id: 'view-map', class: 'view' }, h('h2', {}, 'Map'), legend, h('div', { class: 'split' }, h('div', { class: 'map-wrap' }, svg), detail));
  return {
    el,
    refresh: () => {
      draw();
      void refreshUnknown();
    },
  };
}
