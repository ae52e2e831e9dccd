// SPDX-License-Identifier: Apache-2.0
/** `cordon version`: this client's version, the controller's, and each enforcer's as last reported. */
import type { Command } from 'commander';
import { CORDON_VERSION } from '../../../controller/src/version/cordon-version';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { emitted } from '../output/format';
import { renderTable } from '../output/table';

interface ServerVersions {
  controller: { version: string; node: string };
  enforcers: Array<{ name: string; version: string | null; generation: number | null; connected: boolean }>;
}

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('version')
      .description("versions of this client, the controller and the enforcers (--client: this client's alone, no controller needed)")
      .option('--client', "only the client's version"),
  ).action(async (o: ClientOptions & { client?: boolean }) => {
    const format = outputFormat(o);
    const client = { version: CORDON_VERSION, node: process.version };
    if (o.client) {
      if (!emitted(ctx, format, { client })) ctx.out(`client: ${client.version} (node ${client.node})\n`);
      return;
    }
    let server: ServerVersions;
    try {
      server = await new Client(o, ctx.env).json<ServerVersions>('GET', '/v1/version');
    } catch (err) {
      // The client's own version is worth printing whatever the controller does.
      if (format === 'table' || format === 'wide') ctx.out(`client: ${client.version} (node ${client.node})\n`);
      throw err instanceof CliError ? err : new CliError((err as Error).message);
    }
    if (emitted(ctx, format, { client, ...server })) return;
    ctx.out(`client:     ${client.version} (node ${client.node})\ncontroller: ${server.controller.version} (node ${server.controller.node})\n`);
    if (server.enforcers.length) {
      ctx.out(
        renderTable(
          ['ENFORCER', 'VERSION', 'GENERATION', 'CONNECTED'],
          server.enforcers.map((e) => [e.name, e.version ?? '- (no status received yet)', String(e.generation ?? '-'), e.connected ? 'yes' : 'no']),
        ),
      );
    } else ctx.out('enforcers:  none enrolled\n');
  });
}
