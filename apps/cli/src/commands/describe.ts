// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon describe KIND NAME`: one document and what concerns it: its identity in
 * the current bundle, the enforcers (in sync or not, and how many of its flows
 * each reported), the PolicyTest cases that concern it with their result now,
 * and its most recent flows.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { EXIT } from '../exit-codes';
import { FLOW_VIEW, type FlowRow } from '../flows/flow-view';
import { emitted } from '../output/format';
import { colorOn, renderTable, type Cell } from '../output/table';
import { collectionOf, labelText, type Doc } from './get';
import { selectorMatchesEnforcer } from '../../../../model/placement/labels';

interface BundleLike {
  generation: number;
  identities: Record<string, number>;
  ipcache: Array<{ cidr: string; identity: number }>;
  rules: Array<{ ruleId: number; policy: string; action: string; index: number; mode: string }>;
}
interface TestCase {
  from: string;
  to: string;
  protocol: string | number;
  port?: number;
  type?: string | number;
  code?: number;
  expect: string;
}
interface CaseResult extends TestCase {
  test: string;
  index: number;
  got: string;
  policy: string | null;
  pass: boolean;
}

/** At most this many PolicyTest cases are traced for one describe. */
const MAX_CASES = 200;
const FLOWS_SHOWN = 10;

const hostOf = (cidr: string) => cidr.replace(/\/(32|128)$/, '');

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('describe')
      .description('a document with its identity, enforcers, PolicyTests and recent flows (segment|device|policy|policytest|posturerule NAME)')
      .argument('<kind>', 'segment, device, policy, policytest or posturerule')
      .argument('<name>'),
  ).action(async (kind: string, name: string, o: ClientOptions) => {
    const format = outputFormat(o);
    if (format === 'name') throw new CliError('-o name is for lists; describe prints table, json or yaml', EXIT.USAGE);
    const col = collectionOf(kind);
    if (!col) throw new CliError(`describe takes segment, device, policy, policytest or posturerule, got "${kind}"`, EXIT.USAGE);
    const client = new Client(o, ctx.env);
    const doc = await client.json<Doc>('GET', `/v1/${col}/${encodeURIComponent(name)}`);
    const [bundle, enforcers, versions, tests] = await Promise.all([
      client.json<BundleLike>('GET', '/v1/bundles/current').catch(() => null),
      client.all<{ name: string; generation: number | null; revoked: boolean; lastSeen: string | null; labels?: Record<string, string> }>('/v1/enforcers'),
      client.json<{ enforcers: Array<{ name: string; connected: boolean }> }>('GET', '/v1/version').catch(() => ({ enforcers: [] })),
      client.all<Doc>('/v1/policytests'),
    ]);
    const segmentOf = new Map(Object.entries(bundle?.identities ?? {}).map(([s, id]) => [id, s]));

    // Identity and the flow filter, by kind.
    let identity: Array<{ segment: string; identity: number | null }> = [];
    let flowQuery: URLSearchParams | null = new URLSearchParams();
    let concerns: (c: TestCase, r: { policy: string | null }) => boolean = () => false;
    const addresses: string[] = doc.kind === 'Device' ? doc.spec.addresses ?? [] : [];
    if (doc.kind === 'Segment') {
      identity = [{ segment: name, identity: bundle?.identities[name] ?? null }];
      flowQuery.set('segment', name);
      concerns = (c) => c.from === name || c.to === name;
    } else if (doc.kind === 'Device') {
      const ids = new Set(bundle?.ipcache.filter((e) => addresses.includes(hostOf(e.cidr))).map((e) => e.identity) ?? []);
      identity = [...ids].map((id) => ({ segment: segmentOf.get(id) ?? '?', identity: id }));
      if (addresses.length) flowQuery.set('endpoint', addresses.join(','));
      else flowQuery = null;
      concerns = (c) => [name, ...addresses].includes(c.from) || [name, ...addresses].includes(c.to);
    } else if (doc.kind === 'Policy') {
      const segs: string[] = [...new Set<string>([...(doc.spec.from ?? []), ...(doc.spec.to ?? [])])];
      identity = segs.map((s) => ({ segment: s, identity: bundle?.identities[s] ?? null }));
      const rules = bundle?.rules.filter((r) => r.policy === name).map((r) => r.ruleId) ?? [];
      if (rules.length) flowQuery.set('rule', rules.join(','));
      else flowQuery = null;
      concerns = (_c, r) => r.policy === name;
    } else if (doc.kind === 'PolicyTest') {
      flowQuery = null;
    } else flowQuery = null;

    // PolicyTest cases that concern it, traced against the current bundle.
    const cases: Array<TestCase & { test: string; index: number }> = [];
    // A `to: { fqdn: NAME }` is traced as NAME (the same DNS name).
    const toText = (to: string | { fqdn: string }) => (typeof to === 'string' ? to : to.fqdn);
    for (const t of tests) (t.spec as Array<Omit<TestCase, 'to'> & { to: string | { fqdn: string } }>).forEach((c, index) => cases.push({ ...c, to: toText(c.to), test: t.metadata.name, index }));
    const candidates = doc.kind === 'PolicyTest' ? cases.filter((c) => c.test === name) : doc.kind === 'Policy' ? cases : cases.filter((c) => concerns(c, { policy: null }));
    const results: CaseResult[] = [];
    for (const c of candidates.slice(0, MAX_CASES)) {
      const r = await client
        .json<{ verdict: string; policy: string | null }>('POST', '/v1/trace', { from: c.from, to: c.to, protocol: c.protocol, port: c.port, type: c.type })
        .catch((err: Error) => ({ verdict: `error: ${err.message}`, policy: null }));
      if (doc.kind === 'Policy' && !concerns(c, r)) continue;
      results.push({ ...c, got: r.verdict, policy: r.policy, pass: r.verdict === c.expect });
    }

    const flows = flowQuery ? (await client.json<{ items: FlowRow[] }>('GET', `/v1/flows?${flowQuery}&limit=1000`)).items : [];
    const connected = new Set(versions.enforcers.filter((e) => e.connected).map((e) => e.name));
    const enforcerRows = enforcers.map((e) => ({
      name: e.name,
      generation: e.generation,
      inSync: bundle ? e.generation === bundle.generation : null,
      connected: connected.has(e.name),
      revoked: e.revoked,
      flows: flows.filter((f) => f.enforcer === e.name).length,
      // A Segment or Policy with `enforcers:` is on the enforcers whose labels match only.
      applies: selectorMatchesEnforcer(doc.spec?.enforcers, e.labels ?? {}),
    }));

    const result = { document: doc, generation: bundle?.generation ?? null, identity, enforcers: enforcerRows, policyTests: results, flows: flows.slice(0, FLOWS_SHOWN) };
    if (emitted(ctx, format, result)) return;

    const color = colorOn(ctx);
    const yes = (b: boolean | null, good = true): Cell => (b === null ? '-' : { text: b ? 'yes' : 'no', style: b === good ? 'green' : 'red' });
    const out: string[] = [];
    out.push(`Kind:        ${doc.kind}`, `Name:        ${doc.metadata.name}`, `Labels:      ${labelText(doc.metadata.labels) || '-'}`);
    out.push(`Version:     ${doc.version} (created ${doc.createdAt ?? '?'}, updated ${doc.updatedAt})`);
    if (identity.length) out.push(`Identity:    ${identity.map((i) => `${i.segment}=${i.identity ?? '(none yet)'}`).join(', ')} in generation ${bundle?.generation ?? '-'}`);
    out.push('Spec:');
    out.push(...stringify(doc.spec, { lineWidth: 0 }).trimEnd().split('\n').map((l) => `  ${l}`));
    out.push('', 'Enforcers:');
    out.push(
      enforcerRows.length
        ? indent(renderTable(['NAME', 'APPLIES', 'GENERATION', 'IN SYNC', 'CONNECTED', 'FLOWS'], enforcerRows.map((e) => [e.name, e.applies ? 'yes' : 'no', String(e.generation ?? '-'), e.revoked ? { text: 'revoked', style: 'red' } : yes(e.inSync), yes(e.connected), String(e.flows)]), { color }))
        : '  none enrolled',
    );
    out.push('', `PolicyTests:${candidates.length > MAX_CASES ? ` (the first ${MAX_CASES} of ${candidates.length} cases)` : ''}`);
    const packet = (c: TestCase) => `${c.protocol}${c.port !== undefined ? `/${c.port}` : ''}${c.type !== undefined ? ` type ${c.type}` : ''}`;
    out.push(
      results.length
        ? indent(
            renderTable(
              ['TEST', 'CASE', 'FROM', 'TO', 'PACKET', 'EXPECT', 'GOT', 'BY', 'RESULT'],
              results.map((r) => [r.test, String(r.index), r.from, r.to, packet(r), r.expect, r.got, r.policy ?? 'default deny', r.pass ? { text: 'pass', style: 'green' } : { text: 'FAIL', style: 'red' }]),
              { color },
            ),
          )
        : '  none concern it',
    );
    if (flowQuery) {
      out.push('', `Flows (the ${Math.min(FLOWS_SHOWN, flows.length)} most recent of ${flows.length}${flows.length >= 1000 ? '+' : ''}):`);
      const cols = FLOW_VIEW.columns.filter((c) => !c.wide);
      out.push(flows.length ? indent(renderTable(cols.map((c) => c.header), flows.slice(0, FLOWS_SHOWN).map((f) => cols.map((c) => c.cell(f))), { color })) : '  none reported');
    }
    ctx.out(out.join('\n') + '\n');
  });
}

const indent = (t: string) =>
  t
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
