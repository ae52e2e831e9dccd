// SPDX-License-Identifier: Apache-2.0
/**
 * A flow's explanation: GET /v1/trace with its addresses, protocol and port
 * names the identities and the deciding policy and rule, or the default deny;
 * the matrix adds what the policy does allow between the two segments (the
 * nearest rules that would have let it through).
 */
import { get } from '../api';
import { h, replace } from '../dom';
import { protocolName, type Flow } from '../flows';
import { buildMatrix } from '../matrix';
import type { ConsoleState } from '../state';

interface Endpoint {
  address: string;
  segment: string;
  device: string | null;
  identity: number;
}
interface Trace {
  verdict: string;
  policy: string | null;
  ruleId: number;
  rule: { policy: string; action: string; index: number; mode: string } | null;
  from: Endpoint;
  to: Endpoint;
  packet: string;
}

export async function explain(state: ConsoleState, f: Flow, into: HTMLElement): Promise<void> {
  replace(into, h('p', { class: 'muted' }, 'tracing…'));
  const q = new URLSearchParams({ from: f.src, to: f.dst, protocol: String(f.protocol) });
  if (f.protocol === 6 || f.protocol === 17) q.set('port', String(f.dport));
  let t: Trace;
  try {
    t = await get<Trace>(`/v1/trace?${q}`);
  } catch (e) {
    replace(into, h('p', { class: 'error' }, `trace failed: ${(e as Error).message}`));
    return;
  }
  const end = (e: Endpoint) => `${e.address} — segment ${e.segment}${e.device ? `, device ${e.device}` : ''} (identity ${e.identity})`;
  const decided = t.rule
    ? `policy ${t.rule.policy}, ${t.rule.action} rule #${t.rule.index}${t.rule.mode === 'audit' ? ' (audit mode)' : ''}`
    : 'the default deny: no policy allows this flow';
  const allowed = state.bundle ? (buildMatrix(state.bundle).cells.get(`${t.from.segment}|${t.to.segment}`) ?? []).filter((c) => c.verdict !== 'deny') : [];
  replace(
    into,
    h(
      'div',
      { class: 'explain', 'data-verdict': t.verdict },
      h('h3', {}, `${t.packet}: `, h('span', { class: `badge ${t.verdict}` }, t.verdict)),
      h('dl', {}, h('dt', {}, 'from'), h('dd', {}, end(t.from)), h('dt', {}, 'to'), h('dd', {}, end(t.to)), h('dt', {}, 'decided by'), h('dd', { class: 'decided' }, decided)),
      f.reason !== 'none' && f.reason !== 'policy' ? h('p', {}, `The datapath dropped it for another reason than policy: ${f.reason}.`) : null,
      t.verdict === 'allow'
        ? null
        : h(
            'p',
            { class: 'nearest' },
            allowed.length
              ? `Between ${t.from.segment} and ${t.to.segment} the policy allows: ${allowed.map((c) => `${c.what} (${c.policy ?? '?'})`).join(', ')}.`
              : `No policy allows anything from ${t.from.segment} to ${t.to.segment}; ${protocolName(f.protocol)} would need a new Policy.`,
          ),
    ),
  );
}
