// SPDX-License-Identifier: Apache-2.0
/**
 * The Cordon console: sign in with an API token (kept in memory only), then
 * tabs for the map, flows, matrix, devices, enforcers and policy, all drawn
 * from the controller's REST API and refreshed live.
 */
import './app.css';
import { get, signIn, signOut } from './api';
import { h, replace } from './dom';
import { ConsoleState } from './state';
import { devicesView } from './views/devices-view';
import { enforcersView } from './views/enforcers-view';
import { flowsView } from './views/flows-view';
import { mapView } from './views/map-view';
import { matrixView } from './views/matrix-view';
import { policyView } from './views/policy-view';
import { problemText } from './views/problem';
import type { View, ViewFactory } from './views/view';

const TABS: [string, string, ViewFactory][] = [
  ['map', 'Map', mapView],
  ['flows', 'Flows', flowsView],
  ['matrix', 'Matrix', matrixView],
  ['devices', 'Devices', devicesView],
  ['enforcers', 'Enforcers', enforcersView],
  ['policy', 'Policy', policyView],
];

const root = document.getElementById('app')!;

function signInPage(message?: string) {
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', placeholder: 'API token', required: true, 'aria-label': 'API token' });
  const err = h('p', { class: 'error', id: 'signin-error' }, message ?? '');
  replace(
    root,
    h(
      'form',
      {
        class: 'signin',
        id: 'signin',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          signIn(token.value);
          token.value = '';
          try {
            await get('/v1/enforcers'); // any viewer route: proves the token
            shell();
          } catch (x) {
            signOut();
            replace(err, `sign-in refused: ${problemText(x)}`);
          }
        },
      },
      h('h1', {}, 'Cordon'),
      h('p', { class: 'muted' }, 'Sign in with an API token (cordon token create --role viewer). It is kept in this page’s memory only; reloading signs out.'),
      token,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      err,
    ),
  );
  token.focus();
}

function shell() {
  const state = new ConsoleState();
  const views = new Map<string, View>();
  const main = h('div', { class: 'content' });
  const status = h('span', { class: 'live', id: 'live-status' });
  let active = '';
  const nav = h(
    'nav',
    {},
    TABS.map(([id, label]) => h('button', { type: 'button', 'data-tab': id, id: `tab-${id}`, onclick: () => show(id) }, label)),
  );
  function show(id: string) {
    active = id;
    for (const b of nav.querySelectorAll('button')) b.classList.toggle('active', b.getAttribute('data-tab') === id);
    let v = views.get(id);
    if (!v) {
      v = TABS.find((t) => t[0] === id)![2](state);
      views.set(id, v);
    }
    replace(main, v.el);
    v.refresh();
  }
  state.onChange(() => {
    const how = state.feed.mode === 'stream' ? 'streaming' : state.feed.mode === 'polling' ? 'polling (stream down, reconnecting)' : 'connecting';
    replace(status, state.error ? `⚠ ${state.error}` : `live · ${how} · ${state.flows.size} flows`);
    status.className = state.error ? 'live error' : 'live';
    status.setAttribute('data-feed', state.feed.mode);
    views.get(active)?.refresh();
  });
  replace(
    root,
    h(
      'header',
      {},
      h('h1', {}, 'Cordon'),
      nav,
      status,
      h('button', { type: 'button', id: 'signout', onclick: () => (state.stop(), signOut(), signInPage()) }, 'Sign out'),
    ),
    main,
  );
  show('map');
  state.start();
}

signInPage();
