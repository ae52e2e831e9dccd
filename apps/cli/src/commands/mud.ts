// SPDX-License-Identifier: Apache-2.0
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, formatProblem, ApiError, outputFormat } from '../context';
import { emitted, printValue } from '../output/format';
import { table } from '../output/table';
import { formatChange } from './apply';
import { EXIT } from '../exit-codes';

const collect = (v: string, acc: string[]) => [...acc, v];

function controllerFlags(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of list) {
    const i = c.lastIndexOf('=');
    if (i <= 0 || i === c.length - 1) throw new CliError(`--controller ${c}: expected URI=SEGMENT (for example urn:ietf:params:mud:dns=resolvers, or my-controller=SEGMENT)`, EXIT.USAGE);
    out[c.slice(0, i)] = c.slice(i + 1);
  }
  return out;
}

/**
 * `cordon mud import FILE|URL [--name TYPE] [--controller URI=SEGMENT]... [--apply]`: RFC 8520 MUD JSON to
 * Segment + Policy documents; `cordon mud pending`, `cordon mud approve DEVICE`: the MUD manager's proposals.
 */
export function register(program: Command, ctx: CliContext): void {
  const mud = program.command('mud').description('Manufacturer Usage Descriptions (RFC 8520)');
  clientOptions(
    mud
      .command('import')
      .description('turn a MUD file (a file, or an https URL the controller fetches and checks) into Segment and Policy documents (printed as YAML; --apply stores them)')
      .argument('<file|url>', 'MUD JSON file, or its https URL')
      .option('--name <type>', 'device type name (default: from the mud-url)')
      .option('--controller <uri=segment>', 'the segment a MUD controller class (or my-controller) stands for (repeatable)', collect, [] as string[])
      .option('--apply', 'apply the documents (default: a dry run)'),
  ).action(async (file: string, o: ClientOptions & { name?: string; apply?: boolean; controller: string[] }) => {
    const controllers = controllerFlags(o.controller);
    const body: Record<string, unknown> = { name: o.name, apply: !!o.apply, file, controllers };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file)) {
      if (!/^https:\/\//i.test(file)) throw new CliError(`${file}: MUD files are fetched over https only`, EXIT.USAGE);
      body.url = file;
    } else {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.USAGE);
      }
      try {
        body.mud = JSON.parse(text);
      } catch (err) {
        // Read, but not a MUD file: refused like an invalid document (apply -f), not a usage error.
        throw new CliError(`${file}: not JSON: ${(err as Error).message}`, EXIT.REFUSED);
      }
    }
    let r;
    try {
      r = await new Client(o, ctx.env).json('POST', '/v1/mud/import', body);
    } catch (err) {
      if (err instanceof ApiError) {
        ctx.err(formatProblem(err.problem, file));
        throw new CliError('', err.code); // a file it cannot translate or fetch (400/422): refused, 3
      }
      throw err;
    }
    if (emitted(ctx, outputFormat(o), r)) return;
    if (r.signedBy) ctx.out(`# signed by ${r.signedBy}\n`);
    for (const n of r.notes) ctx.out(`# ${n}\n`);
    ctx.out(r.yaml);
    ctx.out(`# ${formatChange(r.result).trim().split('\n').join('\n# ')}\n`);
  });

  clientOptions(
    mud
      .command('pending')
      .description('what the MUD manager proposes for devices that announced a MUD URL, and what failed (and why)')
      .option('--all', 'applied proposals too'),
  ).action(async (o: ClientOptions & { all?: boolean }) => {
    const r = await new Client(o, ctx.env).json('GET', `/v1/mud/pending${o.all ? '?all=true' : ''}`);
    if (emitted(ctx, outputFormat(o), r)) return;
    if (!r.items.length) return ctx.out('no MUD proposals\n');
    const docs = (p: any) => p.documents.map((d: any) => `${d.kind}/${d.metadata.name}`).join(' ');
    ctx.out(
      table(
        ['DEVICE', 'STATUS', 'MUD URL', 'SIGNED BY', 'VALID UNTIL', 'DOCUMENTS / ERROR'],
        r.items.map((p: any) => [p.device, p.status, p.url, p.signedBy ?? '-', p.validUntil ?? '-', p.status === 'failed' ? p.error : `${docs(p)}${p.error ? ` (${p.error})` : ''}`]),
      ),
    );
  });

  clientOptions(mud.command('approve').argument('<device>').description("apply a device's pending MUD proposal (through the normal apply: validation and PolicyTests)")).action(
    async (device: string, o: ClientOptions) => {
      const r = await new Client(o, ctx.env).json('POST', `/v1/mud/approve/${encodeURIComponent(device)}`, {});
      printValue(ctx, outputFormat(o), r, () => `${device}: MUD proposal from ${r.proposal.url} applied\n${formatChange(r.result)}`);
    },
  );
}
