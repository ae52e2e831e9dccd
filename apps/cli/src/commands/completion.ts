// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon completion bash|zsh|fish`: a script the shell sources; it asks
 * `cordon __complete` for candidates (completion/complete.ts), so what completes
 * is always this build's commands and flags, and names come from the controller.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { CliContext, CliError } from '../context';
import { EXIT } from '../exit-codes';
import { bashScript, fishScript, zshScript } from '../completion/scripts';

/** How the script calls cordon: `cordon` when that is how it was run, else node and this script's path (npx, a checkout). */
function binCommand(env: NodeJS.ProcessEnv): string {
  if (env.CORDON_COMPLETE_BIN) return env.CORDON_COMPLETE_BIN;
  const script = process.argv[1] ?? '';
  const base = path.basename(script);
  if (base === 'cordon') return 'cordon';
  if (base === 'cordon.js' || base === 'main.js') return `'${process.execPath}' '${path.resolve(script)}'`;
  return 'cordon';
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(cordon completion bash), or zsh, or cordon completion fish | source')
    .argument('<shell>', 'bash, zsh or fish')
    .action((shell: string) => {
      const bin = binCommand(ctx.env);
      if (shell === 'bash') return ctx.out(bashScript(bin));
      if (shell === 'zsh') return ctx.out(zshScript(bin));
      if (shell === 'fish') return ctx.out(fishScript(bin));
      throw new CliError(`completion takes bash, zsh or fish, got "${shell}"`, EXIT.USAGE);
    });
}
