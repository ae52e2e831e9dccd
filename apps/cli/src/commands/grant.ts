// SPDX-License-Identifier: Apache-2.0
/**
 * Temporary access: `cordon grant --from D --to S --protocol tcp --port 22 --for 2h --reason "ticket 4711"`,
 * `cordon revoke grant NAME` (also `cordon delete grant NAME`); `cordon get grants` lists them (get.ts).
 */
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { EXIT } from '../exit-codes';
import { printValue, type ListView } from '../output/format';
import type { GrantView } from '../../../controller/src/grants/grant';

/** A row of GET /v1/grants: the controller's own GrantView. */
export type GrantRow = GrantView;

export const GRANT_VIEW: ListView<GrantRow> = {
  columns: [
    { header: 'NAME', cell: (g) => g.name },
    { header: 'FROM', cell: (g) => g.from },
    { header: 'TO', cell: (g) => g.to },
    { header: 'PORT', cell: (g) => `${g.protocol}${g.port !== null ? `/${g.port}` : ''}` },
    { header: 'STATE', cell: (g) => (g.open ? { text: 'open', style: 'green' } : Date.parse(g.end) <= Date.now() ? 'ended' : 'pending') },
    { header: 'UNTIL', cell: (g) => g.end },
    { header: 'START', cell: (g) => g.start, wide: true },
    { header: 'BY', cell: (g) => g.grantedBy, wide: true },
    { header: 'REASON', cell: (g) => g.reason },
  ],
  name: (g) => `grant/${g.name}`,
};

/** DELETE /v1/grants/NAME, printed as the revoked grant. */
export async function revokeGrant(ctx: CliContext, o: ClientOptions, name: string): Promise<void> {
  const r = await new Client(o, ctx.env).json<{ grant: GrantRow }>('DELETE', `/v1/grants/${encodeURIComponent(name)}`);
  printValue(ctx, outputFormat(o), r, () => `grant ${r.grant.name} revoked (it was to end ${r.grant.end})\n`);
}

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('grant')
      .description('temporary access: a policy open from now for --for, audited with --reason; ends by itself (cordon get grants, cordon revoke grant NAME)')
      .requiredOption('--from <name>', 'a device (alone in its segment) or a segment')
      .requiredOption('--to <name>', 'a device (alone in its segment) or a segment')
      .option('--protocol <proto>', 'tcp, udp, icmp, icmpv6 or a number', 'tcp')
      .option('--port <port>', 'destination port (tcp, udp); omitted: every port')
      .requiredOption('--for <duration>', 'how long: 30m, 2h, 1d (10s to 30d)')
      .requiredOption('--reason <text>', 'why, for the audit log ("ticket 4711")')
      .option('--name <name>', 'the grant policy\'s name (default grant-DATE-RANDOM)'),
  ).action(async (o: ClientOptions & { from: string; to: string; protocol: string; port?: string; for: string; reason: string; name?: string }) => {
    let port: number | undefined;
    if (o.port !== undefined) {
      port = Number(o.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--port must be 1-65535, got "${o.port}"`, EXIT.USAGE);
    }
    const protocol = /^\d+$/.test(o.protocol) ? Number(o.protocol) : o.protocol;
    const r = await new Client(o, ctx.env).json<{ grant: GrantRow; result: { generation: number } }>('POST', '/v1/grants', { from: o.from, to: o.to, protocol, port, for: o.for, reason: o.reason, name: o.name });
    const g = r.grant;
    printValue(ctx, outputFormat(o), r, () => `grant ${g.name}: ${g.from} -> ${g.to} ${g.protocol}${g.port !== null ? `/${g.port}` : ''} from ${g.start} until ${g.end} (generation ${r.result.generation})\n`);
  });
  clientOptions(program.command('revoke').description('end a grant before its time').argument('<kind>', 'grant').argument('<name>')).action(async (kind: string, name: string, o: ClientOptions) => {
    if (kind !== 'grant' && kind !== 'grants') throw new CliError(`cordon revoke takes a grant ("cordon revoke grant NAME"), not "${kind}"`, EXIT.USAGE);
    await revokeGrant(ctx, o, name);
  });
}
