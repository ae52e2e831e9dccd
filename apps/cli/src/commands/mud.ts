// SPDX-License-Identifier: Apache-2.0
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, formatProblem, ApiError, outputFormat } from '../context';
import { emitted } from '../output/format';
import { formatChange } from './apply';
import { EXIT } from '../exit-codes';

/** `cordon mud import FILE [--name TYPE] [--apply]`: RFC 8520 MUD JSON to Segment + Policy documents. */
export function register(program: Command, ctx: CliContext): void {
  const mud = program.command('mud').description('Manufacturer Usage Descriptions (RFC 8520)');
  clientOptions(
    mud
      .command('import')
      .description('turn a MUD file into Segment and Policy documents (printed as YAML; --apply stores them)')
      .argument('<file>', 'MUD JSON file')
      .option('--name <type>', 'device type name (default: from the mud-url)')
      .option('--apply', 'apply the documents (default: a dry run)'),
  ).action(async (file: string, o: ClientOptions & { name?: string; apply?: boolean }) => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.USAGE);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      // Read, but not a MUD file: refused like an invalid document (apply -f), not a usage error.
      throw new CliError(`${file}: not JSON: ${(err as Error).message}`, EXIT.REFUSED);
    }
    let r;
    try {
      r = await new Client(o, ctx.env).json('POST', '/v1/mud/import', { mud: parsed, name: o.name, apply: !!o.apply, file });
    } catch (err) {
      if (err instanceof ApiError) {
        ctx.err(formatProblem(err.problem, file));
        throw new CliError('', err.code); // a file it cannot translate (400/422): refused, 3
      }
      throw err;
    }
    if (emitted(ctx, outputFormat(o), r)) return;
    for (const n of r.notes) ctx.out(`# ${n}\n`);
    ctx.out(r.yaml);
    ctx.out(`# ${formatChange(r.result).trim().split('\n').join('\n# ')}\n`);
  });
}
