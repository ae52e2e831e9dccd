// SPDX-License-Identifier: Apache-2.0
/** Segment × segment: what the compiled policy allows (ports, protocols, encryption, audit) and the traffic seen per cell. */
import { h, replace } from '../dom';
import { buildMatrix } from '../matrix';
import type { ConsoleState } from '../state';
import { count, type View } from './view';

export function matrixView(state: ConsoleState): View {
  const body = h('div', { class: 'table-wrap' });
  const el = h(
    'section',
    { id: 'view-matrix', class: 'view' },
    h('h2', {}, 'Matrix'),
    h('p', { class: 'muted' }, 'Rows: source segment; columns: destination. Each cell lists what the compiled policy allows, then the packets observed by verdict. 🔒 encryption required.'),
    body,
  );
  function draw() {
    if (!state.bundle) return replace(body, h('p', { class: 'muted' }, 'no bundle yet: apply some documents'));
    const { cells } = buildMatrix(state.bundle);
    const segs = state.segments();
    const traffic = new Map<string, Record<string, number>>();
    for (const p of state.pairs) {
      const k = `${p.src}|${p.dst}`;
      traffic.set(k, { ...(traffic.get(k) ?? {}), [p.verdict]: p.packets });
    }
    replace(
      body,
      h(
        'table',
        { class: 'matrix', 'data-generation': state.bundle.generation },
        h('thead', {}, h('tr', {}, h('th', {}, 'from \\ to'), segs.map((d) => h('th', { scope: 'col' }, d)))),
        h(
          'tbody',
          {},
          segs.map((src) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, src),
              segs.map((dst) => {
                const list = (cells.get(`${src}|${dst}`) ?? []).filter((c) => c.verdict !== 'deny');
                const seen = traffic.get(`${src}|${dst}`);
                return h(
                  'td',
                  { class: `cell${list.length ? ' allows' : ''}`, 'data-src': src, 'data-dst': dst },
                  list.map((c) => h('div', { class: `rule ${c.verdict}`, title: c.policy ?? '' }, `${c.what}${c.encryptionRequired ? ' 🔒' : ''}${c.verdict === 'audit' ? ' (audit)' : ''}`)),
                  seen ? h('div', { class: 'seen' }, Object.entries(seen).map(([v, n]) => h('span', { class: `badge ${v}` }, `${v} ${count(n, 'pkts')}`))) : null,
                );
              }),
            ),
          ),
        ),
      ),
    );
  }
  return { el, refresh: draw };
}
