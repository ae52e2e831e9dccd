// SPDX-License-Identifier: Apache-2.0
/** A table of flows; a click on a row opens its explanation (the trace). Shared by the flow table and the map. */
import { h } from '../dom';
import { protocolText, type Flow } from '../flows';
import type { ConsoleState } from '../state';
import { explain } from './explain';

export function flowTable(state: ConsoleState, rows: readonly Flow[], detail: HTMLElement): HTMLTableElement {
  const name = (a: string) => state.deviceOf(a);
  return h(
    'table',
    { class: 'flows' },
    h('thead', {}, h('tr', {}, ...['last seen', 'source', 'destination', 'protocol/port', 'verdict', 'reason', 'encryption', 'packets', 'enforcer'].map((c) => h('th', {}, c)))),
    h(
      'tbody',
      {},
      rows.map((f) =>
        h(
          'tr',
          {
            class: `flow verdict-${f.verdict}`,
            'data-src': f.src,
            'data-dst': f.dst,
            'data-sport': f.sport,
            'data-verdict': f.verdict,
            tabindex: 0,
            onclick: () => void explain(state, f, detail),
            onkeydown: (e: Event) => (e as KeyboardEvent).key === 'Enter' && void explain(state, f, detail),
          },
          h('td', {}, new Date(f.lastSeen).toLocaleTimeString()),
          h('td', {}, `${f.src}${name(f.src) ? ` (${name(f.src)})` : ''}`, h('div', { class: 'seg' }, f.srcSegment)),
          h('td', {}, `${f.dst}${f.dstName ? ` (${f.dstName})` : name(f.dst) ? ` (${name(f.dst)})` : ''}`, h('div', { class: 'seg' }, f.dstSegment)),
          h('td', {}, protocolText(f)),
          h('td', {}, h('span', { class: `badge ${f.verdict}` }, f.verdict)),
          h('td', {}, f.reason),
          h('td', { class: 'encryption' }, f.encryption ?? 'unknown'),
          h('td', { class: 'num' }, String(f.packets)),
          h('td', {}, f.enforcer),
        ),
      ),
    ),
  );
}
