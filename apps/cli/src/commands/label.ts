// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon label enforcer NAME site=plant-1 old- [--reset]`: the controller's
 * labels of an enforcer, over those it reports (--label at its start), key
 * by key; `KEY-` removes a key (one the enforcer reports too), `--reset`
 * drops every override first. Policies and Segments with `enforcers:` apply
 * where the labels match; the enforcer gets what changed for it at once.
 */
import type { Command } from 'commander';
import { parseLabelArg } from '../../../../model/placement/labels';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { EXIT } from '../exit-codes';
import { emitted } from '../output/format';
import { labelText } from './get';

export function register(program: Command, ctx: CliContext): void {
  const label = program.command('label').description('set or remove the labels of an enforcer (Policies and Segments select enforcers with `enforcers:`)');
  clientOptions(
    label
      .command('enforcer')
      .argument('<name>', 'the enforcer')
      .argument('[labels...]', 'KEY=VALUE to set, KEY- to remove')
      .option('--reset', 'drop every label set here first: back to the enforcer\'s own --label flags'),
  ).action(async (name: string, args: string[], o: ClientOptions & { reset?: boolean }) => {
    const set: Record<string, string | null> = {};
    for (const a of args) {
      try {
        const { key, value } = parseLabelArg(a, true);
        set[key] = value;
      } catch (err) {
        throw new CliError((err as Error).message, EXIT.USAGE);
      }
    }
    if (!args.length && !o.reset) throw new CliError('name a label to set (KEY=VALUE) or remove (KEY-), or --reset', EXIT.USAGE);
    const r = await new Client(o, ctx.env).json<{ name: string; labels: Record<string, string> }>('PATCH', `/v1/enforcers/${encodeURIComponent(name)}/labels`, { set, reset: o.reset === true });
    if (!emitted(ctx, outputFormat(o), r)) ctx.out(`enforcer/${r.name} labelled: ${labelText(r.labels) || '(no labels)'}\n`);
  });
}
