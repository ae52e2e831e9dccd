import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';

export function register(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the hash-chained audit log');
  clientOptions(audit.command('verify').description('walk the chain; exit 1 at the first altered, removed or reordered entry')).action(async (o: ClientOptions) => {
    const format = outputFormat(o);
    const r = await new Client(o, ctx.env).json('POST', '/v1/audit/verify');
    if (format === 'json') ctx.out(JSON.stringify(r) + '\n');
    else ctx.out(r.ok ? `audit log intact: ${r.entries} entries\n` : `audit log NOT intact at entry ${r.firstBadId}: ${r.reason}\n`);
    if (!r.ok) throw new CliError('', 1);
  });
  clientOptions(audit.command('export').description('every entry as JSON lines, oldest first'), false).action(async (o: ClientOptions) => {
    const res = await new Client(o, ctx.env).request('GET', '/v1/audit/export');
    ctx.out(await res.text());
  });
}
