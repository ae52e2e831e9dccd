// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon config get-contexts|current-context|use-context|set-context|delete-context|view`:
 * the sites of ~/.config/cordon/config.yaml (config/contexts.ts), kubectl config's way.
 */
import type { Command } from 'commander';
import { CliContext, CliError } from '../context';
import { configPath, readConfig, writeConfig, type SiteContext } from '../config/contexts';
import { EXIT } from '../exit-codes';
import { parseFormat, printList, structured, type ListView } from '../output/format';

export function register(program: Command, ctx: CliContext): void {
  const config = program.command('config').description(`contexts: one per site (server, CA, token file), in ${configPath(ctx.env).replace(ctx.env.HOME ?? '\0', '~')}`);

  config
    .command('get-contexts')
    .description('list the contexts; * marks the current one')
    .option('-o, --output <format>', 'table, wide, json, yaml or name', 'table')
    .action((o: { output: string }) => {
      const cfg = readConfig(ctx.env);
      const current = cfg['current-context'];
      const view: ListView<SiteContext> = {
        columns: [
          { header: 'CURRENT', cell: (c) => (c.name === current ? '*' : '') },
          { header: 'NAME', cell: (c) => c.name },
          { header: 'SERVER', cell: (c) => c.server },
          { header: 'CA', cell: (c) => c.ca ?? '-' },
          { header: 'TOKEN FILE', cell: (c) => c['token-file'] ?? '-' },
        ],
        name: (c) => c.name,
      };
      printList(ctx, parseFormat(o.output), view, cfg.contexts);
    });

  config
    .command('current-context')
    .description('the name of the current context')
    .action(() => {
      const c = readConfig(ctx.env)['current-context'];
      if (!c) throw new CliError(`no current context in ${configPath(ctx.env)} (cordon config use-context NAME)`, EXIT.FAILURE);
      ctx.out(c + '\n');
    });

  config
    .command('use-context <name>')
    .description('make NAME the context of every command without --context')
    .action((name: string) => {
      const cfg = readConfig(ctx.env);
      if (!cfg.contexts.some((c) => c.name === name)) {
        throw new CliError(`no context "${name}" in ${configPath(ctx.env)} (contexts: ${cfg.contexts.map((c) => c.name).join(', ') || 'none'}; cordon config set-context ${name} --server URL)`, EXIT.USAGE);
      }
      writeConfig(ctx.env, { ...cfg, 'current-context': name });
      ctx.out(`switched to context "${name}"\n`);
    });

  config
    .command('set-context <name>')
    .description('create or change a context: its controller, the CA of its certificate, the file holding its API token')
    .option('--server <url>', 'controller URL, e.g. https://gw.site-a.example:7470')
    .option('--ca <file>', 'PEM of the CA that signed the controller certificate (https)')
    .option('--token-file <file>', 'file holding the API token (mode 0600); ~ is your home')
    .option('--current', 'also make it the current context')
    .action((name: string, o: { server?: string; ca?: string; tokenFile?: string; current?: boolean }) => {
      const cfg = readConfig(ctx.env);
      const prev = cfg.contexts.find((c) => c.name === name);
      const server = o.server ?? prev?.server;
      if (!server) throw new CliError(`a new context needs --server URL`, EXIT.USAGE);
      const next: SiteContext = { name, server };
      const ca = o.ca ?? prev?.ca;
      const tokenFile = o.tokenFile ?? prev?.['token-file'];
      if (ca) next.ca = ca;
      if (tokenFile) next['token-file'] = tokenFile;
      const contexts = prev ? cfg.contexts.map((c) => (c.name === name ? next : c)) : [...cfg.contexts, next];
      const current = o.current || !cfg['current-context'] ? name : cfg['current-context'];
      // Validated as it will be read back: a bad URL is refused now, not at the next command.
      const file = configPath(ctx.env);
      writeConfig(ctx.env, { 'current-context': current, contexts });
      try {
        readConfig(ctx.env);
      } catch (err) {
        writeConfig(ctx.env, cfg);
        throw err;
      }
      ctx.out(`context "${name}" ${prev ? 'changed' : 'created'} in ${file}${current === name ? ' (current)' : ''}\n`);
    });

  config
    .command('delete-context <name>')
    .description('remove a context')
    .action((name: string) => {
      const cfg = readConfig(ctx.env);
      if (!cfg.contexts.some((c) => c.name === name)) throw new CliError(`no context "${name}" in ${configPath(ctx.env)}`, EXIT.USAGE);
      const contexts = cfg.contexts.filter((c) => c.name !== name);
      const current = cfg['current-context'] === name ? undefined : cfg['current-context'];
      writeConfig(ctx.env, current ? { 'current-context': current, contexts } : { contexts });
      ctx.out(`context "${name}" deleted${current === undefined && cfg['current-context'] === name ? '; no current context now' : ''}\n`);
    });

  config
    .command('view')
    .description('the config file as it is read')
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .action((o: { output: string }) => {
      ctx.out(structured(parseFormat(o.output, ['yaml', 'json']), readConfig(ctx.env)) ?? '');
    });
}
