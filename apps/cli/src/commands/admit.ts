// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { printValue } from '../output/format';
import { formatChange, refuse } from './apply';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i <= 0) throw new CliError(`--label takes key=value, got "${l}"`, 2);
    out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

/** `cordon admit ADDRESS --name NAME --label k=v…`: an unknown device becomes a Device, through apply. */
export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('admit')
      .description('turn an unknown device (cordon get devices --unknown) into a Device, through the normal apply')
      .argument('<address>', 'the unknown source address')
      .requiredOption('--name <name>', 'the Device name')
      .option('--label <k=v>', 'a label (repeat)', collect, [])
      .option('--mac <mac>', 'the MAC (default: the one discovered, if any)')
      .option('--firmware <version>')
      .option('--dry-run', 'validate and show the change, store nothing'),
  ).action(async (address: string, o: ClientOptions & { name: string; label: string[]; mac?: string; firmware?: string; dryRun?: boolean }) => {
    const format = outputFormat(o);
    let r;
    try {
      r = await new Client(o, ctx.env).json('POST', '/v1/admit', { address, name: o.name, labels: parseLabels(o.label), mac: o.mac, firmware: o.firmware, dryRun: !!o.dryRun });
    } catch (err) {
      refuse(ctx, err);
    }
    printValue(ctx, format, r, () => formatChange(r));
  });
}
