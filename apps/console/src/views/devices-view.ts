// SPDX-License-Identifier: Apache-2.0
/**
 * Devices: the known ones (quarantine and release, credentials with their
 * expiry and Revoke), the unknown sources (Admit as a form, through POST
 * /v1/admit, which applies a Device), the incidents (one per device and window,
 * with its kinds, severity and the action taken once) and the anomalies in them
 * with their evidence. Every button is a REST call; a viewer's is refused by
 * the controller and the refusal shown.
 */
import { call, get } from '../api';
import { h, replace } from '../dom';
import type { ConsoleState } from '../state';
import { credentialsPanel } from './credentials-panel';
import { problemText } from './problem';
import type { View } from './view';

interface Unknown {
  address: string;
  mac: string | null;
  interface: string | null;
  enforcer: string;
  segment: string;
  tried: string[];
  lastSeen?: string;
}

/** An incident as GET /v1/incidents gives it (apps/controller/src/monitoring/incidents.ts). */
interface Incident {
  id: number;
  device: string;
  severity: string;
  kinds: string[];
  anomalies: number;
  action: string;
  open: boolean;
  openedAt: string;
  updatedAt: string;
  summary: string;
}

export function labels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`label "${part}" is not key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export function devicesView(state: ConsoleState): View {
  const known = h('div', {});
  const unknownBox = h('div', {});
  const incidents = h('div', {});
  const anomalies = h('div', {});
  const credentials = h('div', { id: 'device-credentials' });
  let credentialsOf: string | null = null;
  const showCredentials = async (device: string) => {
    credentialsOf = device;
    try {
      replace(credentials, await credentialsPanel(device, (id, reason) => void act(`revoke ${id}`, () => call('POST', `/v1/devices/${encodeURIComponent(device)}/credentials/revoke`, { id, reason }))));
    } catch (e) {
      replace(credentials, h('p', { class: 'message error' }, `credentials of ${device}: ${problemText(e)}`));
    }
  };
  const message = h('p', { class: 'message', role: 'status', id: 'devices-message' });
  let last = 0;
  const say = (text: string, ok: boolean) => {
    message.className = `message ${ok ? 'ok' : 'error'}`;
    replace(message, text);
  };
  const act = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      say(`${what}: done`, true);
      last = 0;
      await draw(true);
      if (credentialsOf) await showCredentials(credentialsOf);
    } catch (e) {
      say(`${what}: ${problemText(e)}`, false);
    }
  };

  async function draw(force = false) {
    if (!force && Date.now() - last < 3000) return;
    last = Date.now();
    const [q, u, inc, an, posture] = await Promise.all([
      get<{ items: { device: string; reason: string | null }[] }>('/v1/quarantine'),
      get<{ items: Unknown[] }>('/v1/unknown-devices'),
      get<{ items: Incident[] }>('/v1/incidents?limit=1000').catch(() => ({ items: [] as Incident[] })),
      get<{ items: { device?: string; kind?: string; severity?: string; evidence?: unknown; at?: string }[] }>('/v1/anomalies?limit=100').catch(() => ({ items: [] })),
      get<{ items?: { device: string; compliant: boolean; rules: string[]; failures: { rule: string; requirement: string; expected: string; actual: string }[] }[] }>('/v1/posture').catch(() => ({ items: [] })),
    ]);
    const quarantined = new Map(q.items.map((x) => [x.device, x]));
    const postureOf = new Map((posture.items ?? []).map((p) => [p.device, p]));
    replace(
      known,
      h('h3', {}, `Devices (${state.devices.length})`),
      h(
        'table',
        { class: 'devices' },
        h('thead', {}, h('tr', {}, ['name', 'addresses', 'labels', 'MAC', 'firmware', 'posture', 'state', ''].map((c) => h('th', {}, c)))),
        h(
          'tbody',
          {},
          state.devices.map((d) => {
            const name = d.metadata.name;
            const qd = quarantined.get(name);
            const p = postureOf.get(name);
            return h(
              'tr',
              { 'data-device': name },
              h('td', {}, name),
              h('td', {}, d.spec.addresses.join(', ')),
              h('td', {}, Object.entries(d.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')),
              h('td', {}, d.spec.mac ?? ''),
              h('td', {}, d.spec.firmware ?? ''),
              h('td', {}, p ? (p.compliant ? `compliant (${p.rules.join(', ')})` : `failing: ${p.failures.map((f) => `${f.rule}: ${f.requirement} ${f.actual} (needs ${f.expected})`).join('; ')}`) : ''),
              h('td', {}, qd ? h('span', { class: 'badge deny' }, `quarantined${qd.reason ? `: ${qd.reason}` : ''}`) : 'enforced'),
              h(
                'td',
                {},
                qd
                  ? h('button', { type: 'button', class: 'release', onclick: () => act(`release ${name}`, () => call('DELETE', `/v1/quarantine/${encodeURIComponent(name)}`)) }, 'Release')
                  : h('button', { type: 'button', class: 'quarantine', onclick: () => act(`quarantine ${name}`, () => call('POST', '/v1/quarantine', { device: name, reason: 'from the console' })) }, 'Quarantine'),
                h('button', { type: 'button', class: 'show-credentials', onclick: () => void showCredentials(name) }, 'Credentials'),
              ),
            );
          }),
        ),
      ),
    );
    replace(
      unknownBox,
      h('h3', {}, `Unknown devices (${u.items.length})`),
      u.items.length === 0
        ? h('p', { class: 'muted' }, 'every source the enforcers saw is a Device')
        : h(
            'table',
            { class: 'unknown' },
            h('thead', {}, h('tr', {}, ['address', 'MAC', 'segment', 'enforcer / interface', 'tried', 'admit as'].map((c) => h('th', {}, c)))),
            h(
              'tbody',
              {},
              u.items.map((x) => {
                const name = h('input', { name: 'name', placeholder: 'device name', required: true, pattern: '[a-z0-9]([a-z0-9.\\-]*[a-z0-9])?' });
                const lab = h('input', { name: 'labels', placeholder: 'type=sensor vendor=acme' });
                return h(
                  'tr',
                  { 'data-address': x.address },
                  h('td', {}, x.address),
                  h('td', {}, x.mac ?? ''),
                  h('td', {}, x.segment),
                  h('td', {}, `${x.enforcer}${x.interface ? ` / ${x.interface}` : ''}`),
                  h('td', {}, x.tried.slice(0, 5).join('; ')),
                  h(
                    'td',
                    {},
                    h(
                      'form',
                      {
                        class: 'admit',
                        onsubmit: (e: Event) => {
                          e.preventDefault();
                          void act(`admit ${x.address}`, async () => call('POST', '/v1/admit', { address: x.address, name: name.value.trim(), labels: labels(lab.value) }));
                        },
                      },
                      name,
                      lab,
                      h('button', { type: 'submit' }, 'Admit'),
                    ),
                  ),
                );
              }),
            ),
          ),
    );
    // Newest first; the API lists them in id order.
    const recent = inc.items.slice(-100).reverse();
    replace(
      incidents,
      h('h3', {}, `Incidents (${recent.filter((i) => i.open).length} open)`),
      recent.length === 0
        ? h('p', { class: 'muted' }, 'none')
        : h(
            'table',
            { class: 'incidents' },
            h('thead', {}, h('tr', {}, ['#', 'device', 'state', 'severity', 'kinds', 'anomalies', 'action', 'opened', 'updated', 'summary'].map((c) => h('th', {}, c)))),
            h(
              'tbody',
              {},
              recent.map((i) =>
                h(
                  'tr',
                  { 'data-incident': String(i.id) },
                  [String(i.id), i.device, i.open ? 'open' : 'closed', i.severity, i.kinds.join(', '), String(i.anomalies), i.action, i.openedAt, i.updatedAt, i.summary].map((c) => h('td', {}, c)),
                ),
              ),
            ),
          ),
    );
    replace(
      anomalies,
      h('h3', {}, `Anomalies (${an.items.length}, the incidents' detail)`),
      an.items.length === 0
        ? h('p', { class: 'muted' }, 'none')
        : h(
            'table',
            {},
            h('thead', {}, h('tr', {}, ['at', 'device', 'kind', 'severity', 'evidence'].map((c) => h('th', {}, c)))),
            h('tbody', {}, an.items.map((a) => h('tr', {}, h('td', {}, a.at ?? ''), h('td', {}, a.device ?? ''), h('td', {}, a.kind ?? ''), h('td', {}, a.severity ?? ''), h('td', { class: 'evidence' }, JSON.stringify(a.evidence ?? {}))))),
          ),
    );
  }
  const el = h('section', { id: 'view-devices', class: 'view' }, h('h2', {}, 'Devices'), message, known, credentials, unknownBox, incidents, anomalies);
  return { el, refresh: () => void draw().catch((e) => say(problemText(e), false)) };
}
