// SPDX-License-Identifier: Apache-2.0
/**
 * Policy: the stored documents as YAML, an editor whose Dry run posts them to
 * POST /v1/apply?dryRun=true and shows the diff, the PolicyTest failures and
 * which observed flows the change would newly deny or allow; Apply stores them
 * (operator). Nothing is deleted from here: apply creates and updates only.
 */
import { stringify } from 'yaml';
import { ApiError, call, get } from '../api';
import { h, replace } from '../dom';
import type { ConsoleState } from '../state';
import { problemText } from './problem';
import type { View } from './view';

const COLLECTIONS = ['segments', 'devices', 'policies', 'policytests', 'posturerules'];

interface ImpactedFlow {
  src: string;
  dst: string;
  protocol: string;
  port: number | null;
  srcSegment: string;
  dstSegment: string;
  before: string;
  after: string;
  policyBefore: string | null;
  policyAfter: string | null;
  packets: number;
}
interface ChangeResult {
  dryRun: boolean;
  changed: boolean;
  generation: number;
  documents: { kind: string; name: string; action: string; changes: { path: string; from?: unknown; to?: unknown }[] }[];
  warnings: string[];
  flows?: { checked: number; newlyDenied: ImpactedFlow[]; newlyAllowed: ImpactedFlow[]; truncated: boolean };
}

export async function siteYaml(): Promise<string> {
  const docs: unknown[] = [];
  for (const c of COLLECTIONS) {
    let cursor: string | null = null;
    do {
      const page: { items: { apiVersion: string; kind: string; metadata: object; spec: unknown }[]; nextCursor: string | null } = await get(
        `/v1/${c}?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      for (const d of page.items) docs.push({ apiVersion: d.apiVersion, kind: d.kind, metadata: d.metadata, spec: d.spec });
      cursor = page.nextCursor;
    } while (cursor);
  }
  return docs.map((d) => stringify(d)).join('---\n');
}

const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
const by = (p: string | null) => (p ? `policy ${p}` : 'the default deny');

function impactList(title: string, cls: string, list: ImpactedFlow[]) {
  return h(
    'div',
    { class: `impact ${cls}` },
    h('h4', {}, `${title} (${list.length})`),
    list.length
      ? h(
          'ul',
          {},
          list.map((f) =>
            h('li', { 'data-src': f.src, 'data-dst': f.dst }, `${f.src} (${f.srcSegment}) → ${f.dst} (${f.dstSegment}) ${f.protocol}${f.port !== null ? `/${f.port}` : ''}: ${f.before} by ${by(f.policyBefore)} → ${f.after} by ${by(f.policyAfter)}, ${f.packets} packets`),
          ),
        )
      : h('p', { class: 'muted' }, 'none'),
  );
}

export function renderResult(r: ChangeResult): HTMLElement {
  return h(
    'div',
    { class: 'result' },
    h('h3', {}, r.dryRun ? `Dry run: would be generation ${r.generation}${r.changed ? '' : ' (no change)'}` : r.changed ? `Applied: generation ${r.generation}` : `No change; still generation ${r.generation}`),
    h(
      'ul',
      { class: 'diff' },
      r.documents.map((d) =>
        h('li', { class: d.action }, `${d.kind}/${d.name} ${d.action}`, d.changes.length ? h('ul', {}, d.changes.map((c) => h('li', {}, `${c.path}: ${show(c.from)} → ${show(c.to)}`))) : null),
      ),
    ),
    r.warnings.map((w) => h('p', { class: 'warn' }, `warning: ${w}`)),
    r.flows
      ? h(
          'div',
          { class: 'impacts' },
          h('p', {}, `${r.flows.checked} observed flow(s) checked${r.flows.truncated ? '; the lists are cut at 100' : ''}`),
          impactList(r.dryRun ? 'Would newly deny' : 'Newly denied', 'denied', r.flows.newlyDenied),
          impactList(r.dryRun ? 'Would newly allow' : 'Newly allowed', 'allowed', r.flows.newlyAllowed),
        )
      : h('p', { class: 'muted' }, 'no observed flow to check'),
  );
}

function renderRefusal(e: unknown): HTMLElement {
  const failures = e instanceof ApiError ? (e.problem.failures as { test: string; packet: string; expected: string; got: string; policy: string | null }[] | undefined) : undefined;
  const issues = e instanceof ApiError ? (e.problem.issues as { kind?: string; name?: string; path?: string; message: string }[] | undefined) : undefined;
  return h(
    'div',
    { class: 'result refused' },
    h('p', { class: 'error' }, problemText(e)),
    failures?.length ? h('ul', { class: 'failures' }, failures.map((f) => h('li', {}, `PolicyTest ${f.test}: ${f.packet} expected ${f.expected}, got ${f.got}${f.policy ? ` (policy ${f.policy})` : ''}`))) : null,
    issues?.length ? h('ul', { class: 'issues' }, issues.map((i) => h('li', {}, `${i.kind ?? ''}/${i.name ?? ''} ${i.path ?? ''}: ${i.message}`))) : null,
  );
}

export function policyView(_state: ConsoleState): View {
  const editor = h('textarea', { id: 'policy-editor', spellcheck: false, rows: 28, 'aria-label': 'policy documents (YAML)' });
  const result = h('div', { id: 'policy-result', role: 'status' });
  let loaded = false;
  const send = async (dryRun: boolean) => {
    replace(result, h('p', { class: 'muted' }, dryRun ? 'dry run…' : 'applying…'));
    try {
      const r = await call<ChangeResult>('POST', `/v1/apply${dryRun ? '?dryRun=true' : ''}`, editor.value, 'application/yaml');
      replace(result, renderResult(r));
    } catch (e) {
      replace(result, renderRefusal(e));
    }
  };
  const reload = async () => {
    try {
      editor.value = await siteYaml();
      loaded = true;
    } catch (e) {
      replace(result, renderRefusal(e));
    }
  };
  const el = h(
    'section',
    { id: 'view-policy', class: 'view' },
    h('h2', {}, 'Policy'),
    h('p', { class: 'muted' }, 'The stored documents. Edit, then Dry run to see the diff, the PolicyTest results and the observed flows the change would newly deny or allow; Apply stores it (operator role).'),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'button', id: 'policy-reload', onclick: () => void reload() }, 'Reload'),
      h('button', { type: 'button', id: 'policy-dry-run', onclick: () => void send(true) }, 'Dry run'),
      h('button', { type: 'button', id: 'policy-apply', class: 'primary', onclick: () => void send(false) }, 'Apply'),
    ),
    h('div', { class: 'split' }, editor, result),
  );
  return {
    el,
    refresh: () => {
      if (!loaded) void reload();
    },
  };
}
