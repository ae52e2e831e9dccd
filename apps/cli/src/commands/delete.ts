import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { printValue } from '../output/format';
import { formatChange, refuse } from './apply';
import { collectionOf } from './get';
import { revokeGrant } from './grant';

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('delete')
      .description('delete one document and recompile (refused if a PolicyTest would fail)')
      .argument('<kind>', 'segments|devices|policies|policytests|posturerules|grant')
      .argument('<name>')
      .option('--dry-run', 'show what would change; store nothing'),
  ).action(async (kind: string, name: string, o: ClientOptions & { dryRun?: boolean }) => {
    if (/^grants?$/i.test(kind)) return revokeGrant(ctx, o, name);
    const format = outputFormat(o);
    const col = collectionOf(kind);
    if (!col) throw new CliError(`unknown kind "${kind}"; one of segments, devices, policies, policytests, posturerules`, 2);
    const client = new Client(o, ctx.env);
    let r;
    try {
      r = await client.json('DELETE', `/v1/${col}/${encodeURIComponent(name)}${o.dryRun ? '?dryRun=true' : ''}`);
    } catch (err) {
      refuse(ctx, err);
    }
    printValue(ctx, format, r, () => formatChange(r));
  });
}
