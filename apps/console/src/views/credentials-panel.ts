// SPDX-License-Identifier: Apache-2.0
/**
 * A device's credentials (certificates and pre-shared keys) on the devices
 * page: each one's state and expiry, and Revoke for those still valid
 * (POST /v1/devices/NAME/credentials/revoke, audited by the controller).
 */
import { get } from '../api';
import { h } from '../dom';

export interface CredentialItem {
  kind: 'certificate' | 'psk';
  id: string;
  issuedAt: string;
  notAfter: string | null;
  retireAt: string | null;
  revokedAt: string | null;
  status: string;
}

/** "in 29 days", "in 5 h", "3 days ago". */
export function untilText(iso: string | null, now = Date.now()): string {
  if (!iso) return 'no expiry';
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  const t = abs >= 2 * 86_400_000 ? `${Math.round(abs / 86_400_000)} days` : abs >= 3_600_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.max(1, Math.round(abs / 60_000))} min`;
  return ms >= 0 ? `in ${t}` : `${t} ago`;
}

/** The CRL reasons the controller takes (RFC 5280). */
export const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'] as const;

export async function credentialsPanel(device: string, revoke: (id: string, reason: string) => void): Promise<HTMLElement> {
  const r = await get<{ status: string; items: CredentialItem[] }>(`/v1/devices/${encodeURIComponent(device)}/credentials`);
  return h(
    'div',
    { class: 'credentials', 'data-credentials-of': device },
    h('h3', {}, `Credentials of ${device}: ${r.status}`),
    r.items.length === 0
      ? h('p', { class: 'muted' }, 'none issued (cordon credential issue DEVICE)')
      : h(
          'table',
          {},
          h('thead', {}, h('tr', {}, ['kind', 'id', 'issued', 'expires', 'state', ''].map((c) => h('th', {}, c)))),
          h(
            'tbody',
            {},
            r.items.map((c) =>
              h(
                'tr',
                { 'data-credential': c.id },
                h('td', {}, c.kind),
                h('td', { class: 'mono' }, c.id),
                h('td', {}, c.issuedAt),
                h('td', {}, c.notAfter ? `${c.notAfter} (${untilText(c.notAfter)})` : 'no expiry'),
                h('td', {}, h('span', { class: `badge ${c.status === 'valid' ? 'allow' : 'deny'}` }, c.status)),
                h('td', {}, c.status === 'valid' ? revokeControl((reason) => revoke(c.id, reason)) : ''),
              ),
            ),
          ),
        ),
  );
}

function revokeControl(revoke: (reason: string) => void): HTMLElement {
  const reason = h('select', { name: 'reason', 'aria-label': 'revocation reason' }, REVOKE_REASONS.map((r) => h('option', { value: r }, r)));
  return h('span', { class: 'revoke-control' }, reason, ' ', h('button', { type: 'button', class: 'revoke', onclick: () => revoke(reason.value) }, 'Revoke'));
}
