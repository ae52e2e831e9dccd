import type { Command } from 'commander';
import { CliContext, Client, clientOptions, ClientOptions, outputFormat, table } from '../context';
import { emitted } from '../output/format';

interface TokenRow {
  id: number;
  name: string;
  kind: string;
  role: string;
  state: string;
  enforcer: string | null;
  replace: boolean;
  usedBy: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  bootstrap: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('API and enrollment tokens');
  clientOptions(
    token
      .command('create')
      .description('without --role: a one-time enforcer enrollment token, printed as the join string (TOKEN.CAHEX) that `cordon enforcer --token` takes; with --role: an API token')
      .option('--role <role>', 'viewer, operator or admin')
      .option('--ttl <duration>', 'lifetime such as 30m, 1h, 7d (enrollment tokens: default 1h; API tokens: default 90d)')
      .option('--name <name>', 'enrollment token: the enforcer name it may take (without: only a name no enforcer has had); API token: a label for the audit log')
      .option('--replace', 'enrollment token with --name: may take the name from the live enforcer, whose certificates are revoked'),
  ).action(async (o: ClientOptions & { role?: string; ttl?: string; name?: string; replace?: boolean }) => {
    const format = outputFormat(o);
    const body = o.role
      ? { kind: 'api', role: o.role, ttl: o.ttl, name: o.name, replace: o.replace }
      : { kind: 'enrollment', ttl: o.ttl ?? '1h', name: o.name, replace: o.replace };
    const r = await new Client(o, ctx.env).json('POST', '/v1/tokens', body);
    const enrollment = r.kind === 'enrollment';
    if (emitted(ctx, format, enrollment ? { token: r.token, expiresAt: r.expiresAt, caCertHash: r.caCertHash, join: r.join } : { token: r.token, expiresAt: r.expiresAt })) return;
    ctx.out(`${enrollment ? (r.join ?? r.token) : r.token}\n`);
    const what = enrollment
      ? `one-time enrollment token "${r.name}" for ${r.enforcer ? `the enforcer ${r.enforcer}${r.replace ? ' (replacing the live one)' : ''}` : 'a new enforcer name'}, pinned to the CA ${r.caCertHash}`
      : `${r.role} token "${r.name}"`;
    ctx.err(`${what}, expires ${r.expiresAt}; it is shown only now\n`);
  });

  clientOptions(token.command('list').description('tokens: kind, role, state, expiry and last use (never the secrets)')).action(async (o: ClientOptions) => {
    const { items } = await new Client(o, ctx.env).json<{ items: TokenRow[] }>('GET', '/v1/tokens');
    if (emitted(ctx, outputFormat(o), items)) return;
    ctx.out(
      table(
        ['ID', 'NAME', 'KIND', 'ROLE', 'STATE', 'FOR', 'EXPIRES', 'LAST USED'],
        items.map((t) => [
          String(t.id),
          t.name + (t.bootstrap ? ' (bootstrap)' : ''),
          t.kind,
          t.role,
          t.state,
          t.kind === 'enrollment' ? (t.usedBy ?? t.enforcer ?? 'new name') + (t.replace ? ' (replace)' : '') : '',
          t.expiresAt ?? 'never',
          t.kind === 'api' ? (t.lastUsedAt ?? 'never') : '',
        ]),
      ),
    );
  });

  clientOptions(token.command('revoke <id-or-name>').description('revoke a token: refused from its next request on')).action(async (ref: string, o: ClientOptions) => {
    const r = await new Client(o, ctx.env).json<TokenRow>('POST', `/v1/tokens/${encodeURIComponent(ref)}/revoke`);
    if (emitted(ctx, outputFormat(o), r)) return;
    ctx.out(`token ${r.id} ("${r.name}", ${r.kind}${r.kind === 'api' ? ` ${r.role}` : ''}) revoked\n`);
  });

  clientOptions(
    token
      .command('rotate-admin')
      .description("replace the bootstrap admin token: the old one is revoked, the new one written to the controller's DATA_DIR/admin.token and printed once")
      .option('--ttl <duration>', 'lifetime of the new token', '90d'),
  ).action(async (o: ClientOptions & { ttl: string }) => {
    const r = await new Client(o, ctx.env).json<{ token: string; expiresAt: string; id: number; file: string | null; revoked: number[] }>('POST', '/v1/tokens/rotate-admin', { ttl: o.ttl });
    if (emitted(ctx, outputFormat(o), { token: r.token, expiresAt: r.expiresAt })) return;
    ctx.out(`${r.token}\n`);
    ctx.err(`new admin token ${r.id}, expires ${r.expiresAt}${r.file ? `, written to ${r.file} on the controller` : ''}; revoked: ${r.revoked.length ? r.revoked.join(', ') : 'none'}; it is shown only now\n`);
  });
}
