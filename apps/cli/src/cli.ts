import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../controller/src/config';
import { ApiError, CliContext, CliError, formatProblem, RegisterCommands } from './context';
import { CORDON_VERSION } from '../../controller/src/version/cordon-version';
import { complete } from './completion/complete';
import { EXIT } from './exit-codes';
import { register as apply } from './commands/apply';
import { register as completion } from './commands/completion';
import { register as config } from './commands/config';
import { register as describe } from './commands/describe';
import { register as diff } from './commands/diff';
import { register as flows } from './commands/flows';
import { register as version } from './commands/version';
import { register as audit } from './commands/audit';
import { register as controller } from './commands/controller';
import { register as del } from './commands/delete';
import { register as get } from './commands/get';
import { register as quarantine } from './commands/quarantine';
import { register as token } from './commands/token';
import { register as trace } from './commands/trace';
import { register as label } from './commands/label';
import { register as grant } from './commands/grant';

/**
 * Command groups, one file each under ./commands. Groups written by other features
 * (the enforcer daemon) are picked up when their file exists: export
 * `register(program: Command, ctx: CliContext)` from `commands/<name>.ts` and add the
 * name to OPTIONAL_GROUPS.
 */
const GROUPS: RegisterCommands[] = [controller, apply, diff, get, describe, del, flows, trace, token, audit, quarantine, label, config, version, grant];
const OPTIONAL_GROUPS = ['enforcer', 'credential', 'monitoring', 'report-plaintext', 'controller-ca'];

function optionalGroups(): RegisterCommands[] {
  const out: RegisterCommands[] = [];
  for (const name of OPTIONAL_GROUPS) {
    const id = `./commands/${name}`;
    let mod: { register?: RegisterCommands };
    try {
      mod = require(id);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(id)) continue;
      throw err;
    }
    if (typeof mod.register === 'function') out.push(mod.register);
  }
  return out;
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('cordon')
    .description('Cordon: zero-trust network enforcement for IoT sites')
    .version(CORDON_VERSION, '--version', "the client's version (cordon version: the controller's and the enforcers' too)")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => ctx.err(s) });
  for (const g of [...GROUPS, ...optionalGroups()]) g(program, ctx);
  // Last: completion reads the whole command tree.
  completion(program, ctx);
  // Subcommands inherit output routing and exit behaviour.
  const walk = (c: Command) => {
    c.exitOverride().configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => ctx.err(s) });
    c.commands.forEach(walk);
  };
  program.commands.forEach(walk);
  return program;
}

function defaultStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => resolve(sig);
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
}

/**
 * Runs one command line (without `node cordon`). In-process by default: output is
 * captured and returned; `io` routes it elsewhere (the real process streams).
 */
export async function runCli(
  argv: string[],
  io: Partial<CliContext> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    out: io.out ?? ((s) => void (stdout += s)),
    err: io.err ?? ((s) => void (stderr += s)),
    env: io.env ?? process.env,
    stopSignal: io.stopSignal ?? defaultStopSignal,
    isTTY: io.isTTY ?? false,
  };
  let code = 0;
  try {
    // Completion's words are not this command line's flags: commander must not parse them.
    if (argv[0] === '__complete') {
      for (const c of await complete(buildProgram(ctx), argv.slice(1), ctx)) ctx.out(c + '\n');
      return { code, stdout, stderr };
    }
    await buildProgram(ctx).parseAsync(argv, { from: 'user' });
  } catch (err) {
    code = exitCodeFor(err, ctx);
  }
  return { code, stdout, stderr };
}

function exitCodeFor(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; usage errors were already printed by commander.
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (err instanceof ApiError) {
    ctx.err(formatProblem(err.problem));
    return err.code;
  }
  if (err instanceof CliError) {
    if (err.message) ctx.err(`error: ${err.message}\n`);
    return err.code;
  }
  if (err instanceof ConfigError) {
    ctx.err(`error: ${err.message}\n`);
    return EXIT.USAGE;
  }
  const e = err as NodeJS.ErrnoException;
  // Only the listen of a daemon started from here (an EACCES reading a file is not one).
  if ((e?.syscall === 'listen' || e?.syscall === 'bind') && (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')) {
    ctx.err(`error: cannot listen: ${e.message} — pick another address with --http\n`);
    return EXIT.FAILURE;
  }
  ctx.err(`error: ${e?.message ?? String(err)}\n`);
  return EXIT.FAILURE;
}
