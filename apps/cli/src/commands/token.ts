import type { Command } from 'commander';
import { CliContext, Client, clientOptions, ClientOptions, outputFormat } from '../context';

export function register(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('API and enrollment tokens');
  clientOptions(
    token
      .command('create')
      .description('without --role: a one-time enforcer enrollment token (default ttl 1h); with --role: an API token')
      .option('--role <role>', 'viewer, operator or admin')
      .option('--ttl <duration>', 'lifetime such as 30m, 1h, 7d (API tokens: none by default)')
      .option('--name <name>', 'a name for the audit log'),
  ).action(async (o: ClientOptions & { role?: string; ttl?: string; name?: string }) => {
    const format = outputFormat(o);
    const body = o.role ? { kind: 'api', role: o.role, ttl: o.ttl, name: o.name } : { kind: 'enrollment', ttl: o.ttl ?? '1h', name: o.name };
    const r = await new Client(o, ctx.env).json('POST', '/v1/tokens', body);
    if (format === 'json') return ctx.out(JSON.stringify({ token: r.token, expiresAt: r.expiresAt }) + '\n');
    ctx.out(`${r.token}\n`);
    ctx.err(`${r.kind === 'enrollment' ? 'one-time enrollment token' : `${r.role} token`} "${r.name}", ${r.expiresAt ? `expires ${r.expiresAt}` : 'does not expire'}; it is shown only now\n`);
  });
}
