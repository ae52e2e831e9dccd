// SPDX-License-Identifier: Apache-2.0
/** The live flow table with its filters; at most 200 rows are drawn, the rest counted. */
import { DROP_REASON_NAMES, ENCRYPTION_NAME } from '../../../../native/lib/abi';
import { h, replace } from '../dom';
import type { FlowFilter } from '../flows';
import { ROWS_PER_POLL, type ConsoleState } from '../state';
import { flowTable } from './flow-list';
import type { View } from './view';

const SHOWN = 200;
const FIELDS: [keyof FlowFilter, string][] = [
  ['segment', 'segment'],
  ['device', 'device'],
  ['address', 'address'],
  ['port', 'port'],
  ['protocol', 'protocol'],
  ['enforcer', 'enforcer'],
];
const CHOICES: [keyof FlowFilter, string, string[]][] = [
  ['verdict', 'verdict', ['allow', 'deny', 'audit']],
  ['reason', 'reason', ['none', ...DROP_REASON_NAMES]],
  ['encryption', 'encryption', [...ENCRYPTION_NAME, 'unknown']],
];
const WINDOWS: [string, number][] = [['any time', 0], ['last minute', 60_000], ['last 5 minutes', 300_000], ['last hour', 3_600_000]];

export function flowsView(state: ConsoleState): View {
  const filter: FlowFilter = {};
  const detail = h('aside', { class: 'detail', id: 'flow-detail' }, h('p', { class: 'muted' }, 'Click a flow to explain its verdict.'));
  const body = h('div', { class: 'table-wrap' });
  const status = h('p', { class: 'status' });
  let paused = false;
  const set = (k: keyof FlowFilter, v: string) => {
    (filter as Record<string, unknown>)[k] = k === 'windowMs' ? Number(v) || undefined : v || undefined;
    draw();
  };
  const form = h(
    'form',
    { class: 'filters', onsubmit: (e: Event) => e.preventDefault() },
    FIELDS.map(([k, label]) => h('label', {}, label, h('input', { name: k, type: 'search', oninput: (e: Event) => set(k, (e.target as HTMLInputElement).value) }))),
    CHOICES.map(([k, label, opts]) =>
      h('label', {}, label, h('select', { name: k, onchange: (e: Event) => set(k, (e.target as HTMLSelectElement).value) }, h('option', { value: '' }, 'any'), opts.map((o) => h('option', { value: o }, o)))),
    ),
    h('label', {}, 'time', h('select', { name: 'windowMs', onchange: (e: Event) => set('windowMs', (e.target as HTMLSelectElement).value) }, WINDOWS.map(([l, ms]) => h('option', { value: ms }, l)))),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'pause', onchange: (e: Event) => ((paused = (e.target as HTMLInputElement).checked), draw()) }), 'pause'),
  );
  function draw() {
    const { rows, matched } = state.flows.list(filter, state.deviceOf, SHOWN);
    replace(body, flowTable(state, rows, detail));
    const parts: string[] = [];
    if (state.aggregatedFlows) parts.push(`${state.aggregatedFlows} flow(s) beyond the stream's ${state.feed.rowsPerSecond} rows a second were only counted`);
    if (state.saturatedPolls) parts.push(`${state.saturatedPolls} poll(s) hit the ${ROWS_PER_POLL}-row limit`);
    const busy = parts.length ? ` · busy site: ${parts.join(', ')}; the map's counters still count every packet` : '';
    replace(status, `${matched} matching flow(s)${matched > SHOWN ? `, the ${SHOWN} most recent shown` : ''} · ${state.flows.size} held${busy}`);
  }
  const el = h('section', { id: 'view-flows', class: 'view' }, h('h2', {}, 'Flows'), form, status, h('div', { class: 'split' }, body, detail));
  return {
    el,
    refresh: () => {
      if (!paused) draw();
    },
  };
}
