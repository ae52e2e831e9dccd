import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat, table } from '../context';

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

const KINDS_HELP = 'segments|devices|policies|policytests|posturerules|enforcers|bundle';

interface Doc {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: any;
  version: number;
  updatedAt: string;
}

function summary(d: Doc): string {
  const s = d.spec ?? {};
  switch (d.kind) {
    case 'Segment':
      return [s.cidrs?.join(','), s.selector && Object.keys(s.selector).length ? `selector ${labels(s.selector)}` : '', s.mode !== 'enforce' ? s.mode : ''].filter(Boolean).join(' ');
    case 'Device':
      return [s.addresses?.join(','), s.mac].filter(Boolean).join(' ');
    case 'Policy':
      return `${s.from?.join(',')} -> ${s.to?.join(',')}${s.allow ? ` allow ${s.allow.length}` : ''}${s.deny ? ` deny ${s.deny.length}` : ''}`;
    case 'PolicyTest':
      return `${Array.isArray(s) ? s.length : 0} case(s)`;
    default:
      return JSON.stringify(s).slice(0, 60);
  }
}

const labels = (l?: Record<string, string>) => Object.entries(l ?? {}).map(([k, v]) => `${k}=${v}`).join(',');

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('get')
      .description(`show documents, enforcers or the current bundle (${KINDS_HELP})`)
      .argument('<kind>', KINDS_HELP)
      .argument('[name]', 'one item by name (bundle: a generation)'),
  ).action(async (kind: string, name: string | undefined, o: ClientOptions) => {
    const format = outputFormat(o);
    const client = new Client(o, ctx.env);
    const print = (v: unknown, tbl: () => string) => ctx.out(format === 'json' ? JSON.stringify(v, null, 2) + '\n' : tbl());
    const k = kind.toLowerCase();
    if (k === 'bundle' || k === 'bundles') {
      const b = await client.json('GET', name ? `/v1/bundles/${encodeURIComponent(name)}` : '/v1/bundles/current');
      return print(b, () =>
        table(['GENERATION', 'HASH', 'SEGMENTS', 'IPCACHE', 'POLICY', 'RULES'], [[String(b.generation), b.hash, String(Object.keys(b.identities ?? {}).length), String(b.ipcache?.length ?? 0), String(b.policy?.length ?? 0), String(b.rules?.length ?? 0)]]),
      );
    }
    if (k === 'enforcers' || k === 'enforcer') {
      const items = name ? [await client.json('GET', `/v1/enforcers/${encodeURIComponent(name)}`)] : await client.all('/v1/enforcers');
      return print(name ? items[0] : items, () =>
        table(['NAME', 'GENERATION', 'LAST SEEN', 'REVOKED'], items.map((e) => [e.name, String(e.generation ?? '-'), e.lastSeen ?? 'never', e.revoked ? 'yes' : 'no'])),
      );
    }
    const col = collectionOf(k);
    if (!col) throw new CliError(`unknown kind "${kind}"; one of ${KINDS_HELP}`, 2);
    const items: Doc[] = name ? [await client.json<Doc>('GET', `/v1/${col}/${encodeURIComponent(name)}`)] : await client.all<Doc>(`/v1/${col}`);
    print(name ? items[0] : items, () =>
      table(['NAME', 'LABELS', 'VERSION', 'UPDATED', 'SPEC'], items.map((d) => [d.metadata.name, labels(d.metadata.labels) || '-', String(d.version), d.updatedAt, summary(d)])),
    );
  });
}
