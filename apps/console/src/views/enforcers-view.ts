// SPDX-License-Identifier: Apache-2.0
/**
 * Enforcers: their labels (where `enforcers:` documents apply), connected or
 * not and to which controller of the site (GET /v1/enforcers reads the streams
 * every controller records), the generation each enforces against the site's,
 * version, certificate expiry, map fill, drops by reason.
 */
import { get } from '../api';
import { h, replace } from '../dom';
import type { ConsoleState } from '../state';
import type { View } from './view';

interface Status {
  generation?: number;
  mapFill?: Record<string, { entries: number; max: number }>;
  drops?: { reason: string; count?: number; packets?: number }[];
  certificateExpiresAt?: number;
  health?: { healthy: boolean; detail: string } | null;
}
interface Enforcer {
  name: string;
  lastSeen: string | null;
  generation: number | null;
  status: Status;
  revoked: boolean;
  labels?: Record<string, string>;
  /** The fleet status (controller enforcers/fleet-row.ts). */
  connected: boolean;
  controller: string | null;
  currentGeneration: number;
  version: string | null;
}

export function enforcersView(state: ConsoleState): View {
  const body = h('div', {});
  let last = 0;
  async function draw() {
    if (Date.now() - last < 2000) return;
    last = Date.now();
    const [list, live] = await Promise.all([get<{ items: Enforcer[] }>('/v1/enforcers'), get<{ items: { name: string; generation: number | null }[] }>('/v1/enforcers-connected')]);
    // This controller's own streams tell a generation applied since the last status report.
    const here = new Map(live.items.map((x) => [x.name, x]));
    replace(
      body,
      h(
        'table',
        { class: 'enforcers' },
        h('thead', {}, h('tr', {}, ['name', 'labels', 'connected', 'generation', 'version', 'certificate expires', 'map fill', 'drops by reason', 'health'].map((c) => h('th', {}, c)))),
        h(
          'tbody',
          {},
          list.items.map((e) => {
            const gen = here.get(e.name)?.generation ?? e.status?.generation ?? e.generation;
            const want = Math.max(e.currentGeneration ?? 0, state.bundle?.generation ?? 0) || null;
            const inSync = gen !== null && gen !== undefined && want !== null && gen >= want;
            const fill = Object.entries(e.status?.mapFill ?? {})
              .map(([m, f]) => [m, f.max ? f.entries / f.max : 0] as const)
              .sort((a, b) => b[1] - a[1]);
            return h(
              'tr',
              { 'data-enforcer': e.name },
              h('td', {}, e.name, e.revoked ? h('span', { class: 'badge deny' }, 'revoked') : null),
              h('td', { class: 'labels' }, Object.entries(e.labels ?? {}).map(([k, v]) => h('div', {}, `${k}=${v}`))),
              h('td', {}, e.connected ? h('span', { class: 'badge allow' }, `connected to ${e.controller}`) : h('span', { class: 'badge deny' }, `no (last seen ${e.lastSeen ?? 'never'})`)),
              h('td', { class: inSync ? 'in-sync' : 'out-of-sync' }, `${gen ?? '—'} of ${want ?? '—'} ${inSync ? '(in sync)' : '(out of sync)'}`),
              h('td', {}, e.version ?? '—'),
              h('td', {}, e.status?.certificateExpiresAt ? new Date(e.status.certificateExpiresAt).toISOString() : '—'),
              h('td', {}, fill.slice(0, 4).map(([m, f]) => h('div', { class: f > 0.8 ? 'warn' : '' }, `${m} ${(f * 100).toFixed(1)} %`))),
              h('td', {}, (e.status?.drops ?? []).filter((d) => (d.count ?? d.packets ?? 0) > 0).map((d) => h('div', {}, `${d.reason.replace(/^DROP_REASON_/, '').toLowerCase()}: ${d.count ?? d.packets}`))),
              h('td', {}, e.status?.health ? `${e.status.health.healthy ? 'healthy' : 'unhealthy'} ${e.status.health.detail ?? ''}` : '—'),
            );
          }),
        ),
      ),
    );
  }
  const el = h('section', { id: 'view-enforcers', class: 'view' }, h('h2', {}, 'Enforcers'), body);
  return { el, refresh: () => void draw().catch((e) => replace(body, h('p', { class: 'error' }, (e as Error).message))) };
}
