// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon get KIND [NAME] [-l SELECTOR] [-o table|wide|json|yaml|name] [-w]`.
 * Documents print as GET returns them (the document plus version, createdAt,
 * updatedAt): `get -o yaml` is what `apply -f` takes back, with `version` as an
 * optimistic-concurrency check.
 */
import { Option, type Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { EXIT } from '../exit-codes';
import { printList, StreamPrinter, type ListView } from '../output/format';
import type { Cell } from '../output/table';
import { parseSelector } from '../selector';
import { watchLoop } from '../watch';
import { GRANT_VIEW, type GrantRow } from './grant';
import { scheduleState } from '../../../../model/schedule/state';

const DOCUMENT_COLLECTIONS: Record<string, string> = {
  segment: 'segments',
  segments: 'segments',
  device: 'devices',
  devices: 'devices',
  policy: 'policies',
  policies: 'policies',
  policytest: 'policytests',
  policytests: 'policytests',
  posturerule: 'posturerules',
  posturerules: 'posturerules',
};

export function collectionOf(kind: string): string | null {
  return DOCUMENT_COLLECTIONS[kind.toLowerCase()] ?? null;
}

/** The kinds `get` (and completion, describe) know. */
export const GET_KINDS = ['segments', 'devices', 'policies', 'policytests', 'posturerules', 'enforcers', 'bundle', 'fqdn', 'anomalies', 'incidents', 'grants'] as const;
const KINDS_HELP = GET_KINDS.join('|');

/** A document as GET returns it. */
export interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: any;
  version: number;
  createdAt?: string;
  updatedAt: string;
}

export const labelText = (l?: Record<string, string>) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

function summary(d: Doc): string {
  const s = d.spec ?? {};
  // A placed Segment or Policy says where it applies.
  const on = s.enforcers && typeof s.enforcers === 'object' ? ` on ${labelText(s.enforcers)}` : '';
  return kindSummary(d, s) + on;
}

function kindSummary(d: Doc, s: any): string {
  switch (d.kind) {
    case 'Segment':
      return [s.cidrs?.join(','), s.selector && Object.keys(s.selector).length ? `selector ${labelText(s.selector)}` : '', s.mode !== 'enforce' ? s.mode : ''].filter(Boolean).join(' ');
    case 'Device':
      return [s.addresses?.join(','), s.mac].filter(Boolean).join(' ');
    case 'Policy':
      // a name selector as it is written: fqdn:*.vendor.example
      return `${s.from?.join(',')} -> ${s.to?.map((t: string | { fqdn: string }) => (typeof t === 'string' ? t : `fqdn:${t.fqdn}`)).join(',')}${s.allow ? ` allow ${s.allow.length}` : ''}${s.deny ? ` deny ${s.deny.length}` : ''}`;
    case 'PolicyTest':
      return `${Array.isArray(s) ? s.length : 0} case(s)`;
    default:
      return JSON.stringify(s).slice(0, 60);
  }
}

export const DOCUMENT_VIEW: ListView<Doc> = {
  columns: [
    { header: 'NAME', cell: (d) => d.metadata.name },
    { header: 'LABELS', cell: (d) => labelText(d.metadata.labels) || '-' },
    { header: 'VERSION', cell: (d) => String(d.version) },
    { header: 'CREATED', cell: (d) => d.createdAt ?? '-', wide: true },
    { header: 'UPDATED', cell: (d) => d.updatedAt },
    { header: 'SPEC', cell: (d) => summary(d) },
  ],
  name: (d) => `${d.kind.toLowerCase()}/${d.metadata.name}`,
};

/** A policy's schedule now: "open until T", "closed until T", "closed" (no window ahead), "-" (none). */
export function scheduleCell(d: Doc, now = Date.now()): string {
  const s = d.spec?.schedule;
  if (!s) return '-';
  try {
    const st = scheduleState(s, now);
    return `${st.open ? 'open' : 'closed'}${st.nextChange ? ` until ${st.nextChange.replace('.000Z', 'Z')}` : ''}`;
  } catch {
    return 'invalid';
  }
}

/** Policies: the documents' columns and the schedule's state now. */
const POLICY_VIEW: ListView<Doc> = { ...DOCUMENT_VIEW, columns: [...DOCUMENT_VIEW.columns.slice(0, -1), { header: 'SCHEDULE', cell: (d) => scheduleCell(d) }, DOCUMENT_VIEW.columns[DOCUMENT_VIEW.columns.length - 1]] };

interface EnforcerRow {
  name: string;
  enrolledAt: string;
  lastSeen: string | null;
  generation: number | null;
  certSerial: string | null;
  revoked: boolean;
  /** Its --label flags with the controller's overrides (cordon label enforcer). */
  labels?: Record<string, string>;
  status?: { version?: string; health?: { healthy?: boolean; interfaces?: string[] } | null };
  /** The fleet status (controller enforcers/fleet-row.ts); absent from older controllers. */
  connected?: boolean;
  controller?: string | null;
  currentGeneration?: number;
  inSync?: boolean;
  version?: string | null;
  certExpiresAt?: string | null;
  mapFill?: { map: string; percent: number } | null;
}

/** CONNECTED: the controller serving it, `no`, or `no (revoked)`. */
const connectedCell = (e: EnforcerRow): Cell =>
  e.revoked ? { text: 'no (revoked)', style: 'red' } : e.controller ? { text: e.controller, style: 'green' } : { text: 'no', style: 'yellow' };

/** GENERATION: enforced/current (an older controller gives the enforced one only). */
const generationCell = (e: EnforcerRow): string => `${e.generation ?? 0}${e.currentGeneration === undefined ? '' : `/${e.currentGeneration}`}`;

const ENFORCER_VIEW: ListView<EnforcerRow> = {
  columns: [
    { header: 'NAME', cell: (e) => e.name },
    { header: 'CONNECTED', cell: connectedCell },
    { header: 'GENERATION', cell: generationCell },
    { header: 'IN SYNC', cell: (e) => (e.inSync === undefined ? '-' : e.inSync ? { text: 'yes', style: 'green' } : { text: 'no', style: 'red' }) },
    { header: 'LAST SEEN', cell: (e) => e.lastSeen ?? 'never' },
    { header: 'VERSION', cell: (e) => e.version ?? e.status?.version ?? '-', wide: true },
    { header: 'CERT EXPIRES', cell: (e) => e.certExpiresAt ?? '-', wide: true },
    { header: 'MAP FILL', cell: (e) => (e.mapFill ? `${e.mapFill.percent}% ${e.mapFill.map}` : '-'), wide: true },
    { header: 'LABELS', cell: (e) => labelText(e.labels) || '-', wide: true },
    { header: 'INTERFACES', cell: (e) => e.status?.health?.interfaces?.join(',') || '-', wide: true },
    { header: 'ENROLLED', cell: (e) => e.enrolledAt, wide: true },
    { header: 'CERTIFICATE', cell: (e) => e.certSerial ?? '-', wide: true },
  ],
  name: (e) => `enforcer/${e.name}`,
};

interface BundleRow {
  generation: number;
  hash: string;
  identities?: Record<string, number>;
  ipcache?: unknown[];
  policy?: unknown[];
  rules?: unknown[];
}

const BUNDLE_VIEW: ListView<BundleRow> = {
  columns: [
    { header: 'GENERATION', cell: (b) => String(b.generation) },
    { header: 'HASH', cell: (b) => b.hash },
    { header: 'SEGMENTS', cell: (b) => String(Object.keys(b.identities ?? {}).length) },
    { header: 'IPCACHE', cell: (b) => String(b.ipcache?.length ?? 0) },
    { header: 'POLICY', cell: (b) => String(b.policy?.length ?? 0) },
    { header: 'RULES', cell: (b) => String(b.rules?.length ?? 0) },
  ],
  name: (b) => `bundle/${b.generation}`,
};

/** A row of GET /v1/fqdn: an address an enforcer learned for a name from a DNS answer. */
interface FqdnRow {
  enforcer: string;
  name: string;
  address: string;
  expiresAt: string;
  expired: boolean;
  selectors: string[];
}
interface FqdnReportRow {
  enforcer: string;
  reportedAt: string;
  total: number;
  listed: number;
}

/** `in 42s`, `in 3m`, `expired 5m ago`. */
function expiryText(at: string, now = Date.now()): string {
  const s = Math.round((Date.parse(at) - now) / 1000);
  const span = (n: number) => (n < 120 ? `${n}s` : n < 7200 ? `${Math.round(n / 60)}m` : `${Math.round(n / 3600)}h`);
  return s > 0 ? `in ${span(s)}` : `expired ${span(-s)} ago`;
}

const FQDN_VIEW: ListView<FqdnRow> = {
  columns: [
    { header: 'NAME', cell: (r) => r.name || '(restored, name unknown)' },
    { header: 'ADDRESS', cell: (r) => r.address },
    { header: 'EXPIRES', cell: (r) => (r.expired ? { text: expiryText(r.expiresAt), style: 'dim' } : expiryText(r.expiresAt)) },
    { header: 'SELECTORS', cell: (r) => r.selectors.join(',') || '-' },
    { header: 'ENFORCER', cell: (r) => r.enforcer },
    { header: 'EXPIRES AT', cell: (r) => r.expiresAt, wide: true },
  ],
  name: (r) => `fqdn/${r.enforcer}/${r.name}/${r.address}`,
};

type GetOptions = ClientOptions & { selector?: string; watch?: boolean; interval: string; enforcer?: string };

/** Reads one kind: the items and how they print; `key` tells one item from another across a --watch. */
async function read(client: Client, kind: string, name: string | undefined, o: GetOptions): Promise<{ items: any[]; view: ListView<any>; key: (i: any) => string; single?: boolean; notes?: string[] }> {
  const k = kind.toLowerCase();
  const select = o.selector ? parseSelector(o.selector) : null;
  if (o.enforcer && k !== 'bundle' && k !== 'bundles' && k !== 'fqdn') throw new CliError('--enforcer goes with `get bundle` and `get fqdn`', EXIT.USAGE);
  if (k === 'fqdn' || k === 'fqdns') {
    if (select) throw new CliError('-l selects documents by their labels; learned names have none (use --enforcer)', EXIT.USAGE);
    const q = new URLSearchParams();
    if (o.enforcer) q.set('enforcer', o.enforcer);
    if (name) q.set('name', name);
    const r = await client.json<{ items: FqdnRow[]; reports: FqdnReportRow[] }>('GET', `/v1/fqdn${q.size ? `?${q}` : ''}`);
    const notes = r.reports.filter((p) => p.total > p.listed).map((p) => `enforcer ${p.enforcer} holds ${p.total} learned addresses; its report lists the ${p.listed} that expire last`);
    // a name (or *.domain) filters the list: it can hold several addresses, several enforcers
    return { items: r.items, view: FQDN_VIEW, key: (x) => `${x.enforcer}|${x.name}|${x.address}`, notes, single: false };
  }
  if (k === 'bundle' || k === 'bundles') {
    if (select) throw new CliError('-l selects documents by their labels; bundles have none', EXIT.USAGE);
    if (o.enforcer && name) throw new CliError('--enforcer shows the current generation as that enforcer holds it; name no generation with it', EXIT.USAGE);
    const at = o.enforcer ? `/v1/enforcers/${encodeURIComponent(o.enforcer)}/bundle` : name ? `/v1/bundles/${encodeURIComponent(name)}` : '/v1/bundles/current';
    const b = await client.json<BundleRow>('GET', at);
    // One bundle (the current one, or a generation): an object, as `get KIND NAME` prints.
    return { items: [b], view: BUNDLE_VIEW, key: (x) => String(x.generation), single: true };
  }
  if (k === 'enforcers' || k === 'enforcer') {
    let items = name ? [await client.json<EnforcerRow>('GET', `/v1/enforcers/${encodeURIComponent(name)}`)] : await client.all<EnforcerRow>('/v1/enforcers');
    if (select) items = items.filter((e) => select(e.labels ?? {}));
    return { items, view: ENFORCER_VIEW, key: (x) => x.name };
  }
  if (k === 'grants' || k === 'grant') {
    if (select) throw new CliError('-l selects documents by their labels; list grants without it', EXIT.USAGE);
    let items = (await client.json<{ items: GrantRow[] }>('GET', '/v1/grants')).items;
    if (name) items = items.filter((g) => g.name === name);
    if (name && !items.length) throw new CliError(`grant "${name}" does not exist`, EXIT.FAILURE);
    return { items, view: GRANT_VIEW, key: (x) => x.name };
  }
  const col = collectionOf(k);
  if (!col) throw new CliError(`unknown kind "${kind}"; one of ${KINDS_HELP}`, EXIT.USAGE);
  let items = name ? [await client.json<Doc>('GET', `/v1/${col}/${encodeURIComponent(name)}`)] : await client.all<Doc>(`/v1/${col}`);
  if (select) items = items.filter((d) => select(d.metadata.labels));
  return { items, view: col === 'policies' ? POLICY_VIEW : DOCUMENT_VIEW, key: (x) => `${x.kind}/${x.metadata.name}` };
}

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('get')
      .description(`show documents, enforcers or the current bundle (${KINDS_HELP})`)
      .argument('<kind>', KINDS_HELP)
      .argument('[name]', 'one item by name (bundle: a generation)')
      .option('-l, --selector <selector>', 'only documents (or enforcers) whose labels match (k=v, k!=v, k in (a,b), k, !k; comma: and)')
      .option('--enforcer <name>', 'bundle: the current generation as this enforcer is sent it (the policies and segments its labels select); fqdn: what this enforcer learned')
      .option('-w, --watch', 'after the list, print items as they change until interrupted')
      .addOption(new Option('--interval <ms>', 'poll interval with --watch').default('2000').hideHelp()),
  ).action(async (kind: string, name: string | undefined, o: GetOptions) => {
    const format = outputFormat(o);
    const client = new Client(o, ctx.env);
    const first = await read(client, kind, name, o);
    for (const n of first.notes ?? []) ctx.err(`note: ${n}\n`);
    if (!o.watch) return printList(ctx, format, first.view, first.items, { single: first.single ?? !!name });
    const out = new StreamPrinter(ctx, format, first.view);
    out.print(first.items);
    const seen = new Map(first.items.map((i) => [first.key(i), JSON.stringify(i)]));
    await watchLoop(ctx, Number(o.interval) || 2000, async () => {
      const now = await read(client, kind, name, o);
      const changed = now.items.filter((i) => seen.get(now.key(i)) !== JSON.stringify(i));
      for (const i of changed) seen.set(now.key(i), JSON.stringify(i));
      out.print(changed);
    });
  });
}
