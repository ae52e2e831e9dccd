// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { CliContext, Client, clientOptions, ClientOptions, outputFormat, table } from '../context';
import { emitted } from '../output/format';

/** `cordon recommend` and `cordon report unused` (least privilege from what flows showed). */
export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('recommend')
      .description('Policy documents allowing exactly the flows observed, as YAML for `cordon apply -f - --dry-run`')
      .option('--window <duration>', 'flows seen within this duration', '7d')
      .option('--include-denied', 'also flows the policy denied'),
  ).action(async (o: ClientOptions & { window: string; includeDenied?: boolean }) => {
    // The documents are YAML already: table, wide and yaml print them as they are, ready for `cordon apply -f -`.
    const format = outputFormat(o);
    const q = `window=${encodeURIComponent(o.window)}${o.includeDenied ? '&includeDenied=true' : ''}`;
    const r = await new Client(o, ctx.env).json('GET', `/v1/recommend?${q}`);
    if (format === 'json' && emitted(ctx, format, r)) return;
    if (format === 'name') return ctx.out(r.documents.map((d: { kind: string; metadata: { name: string } }) => `${d.kind.toLowerCase()}/${d.metadata.name}\n`).join(''));
    ctx.out(`# ${r.documents.length} policy(ies) covering ${r.flows} observed flow tuple(s) since ${r.observedSince}\n`);
    for (const s of r.skipped) ctx.out(`# skipped ${s.tuple}: ${s.reason}\n`);
    ctx.out(r.yaml || '# no flows observed\n');
  });

  // `report plaintext` may come from another feature: share the group.
  const report = program.commands.find((c) => c.name() === 'report') ?? program.command('report').description('reports over observed flows');
  clientOptions(report.command('unused').description('allow rules no packet used over a window').option('--window <duration>', 'e.g. 7d, 24h', '7d')).action(
    async (o: ClientOptions & { window: string }) => {
      const format = outputFormat(o);
      const r = await new Client(o, ctx.env).json('GET', `/v1/report/unused?window=${encodeURIComponent(o.window)}`);
      if (emitted(ctx, format, r)) return;
      ctx.out(`# generation ${r.generation}; flows observed since ${r.observedSince}\n`);
      ctx.out(table(['POLICY', 'RULE', 'MODE', 'LAST USED', 'ALLOWS'], r.items.map((u: any) => [u.policy, `allow[${u.index}]`, u.mode, u.lastUsed ?? 'never', JSON.stringify(u.rule)])));
    },
  );
}
