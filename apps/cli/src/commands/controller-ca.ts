import type { Command } from 'commander';
import { CliContext, CliError } from '../context';

/** `cordon controller ca seal`: the enforcer CA key from a plain file into one sealed with the KEK. */
export function register(program: Command, ctx: CliContext): void {
  const controller = program.commands.find((c) => c.name() === 'controller');
  if (!controller) return;
  const ca = controller.command('ca').description('the enforcer CA of the control channel');
  // --data-dir and --kek-file are the `cordon controller` flags themselves (read from the parent).
  ca.command('seal')
    .description(
      'seal a plain enforcer CA key (DATA_DIR/ca/ca.key) with the key-encryption key: `cordon controller ca seal --data-dir D --kek-file F`; ' +
        'run it with the controller stopped, then start the controller with the same --kek-file',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as { kekFile?: string; dataDir?: string };
      if (!o.kekFile) throw new CliError('cordon controller ca seal: --kek-file FILE is required (the key-encryption key to seal with)', 2);
      const dataDir = o.dataDir ?? `${process.env.HOME ?? ''}/.cordon`;
      const { sealEnforcerCaKey } = await import('../../../controller/src/control/ca/seal');
      try {
        const r = await sealEnforcerCaKey(dataDir, o.kekFile);
        ctx.out(`enforcer CA key sealed into ${r.sealedFile} (KEK fingerprint ${r.kekFingerprint}); the plain key was removed. Start the controller with --kek-file ${o.kekFile}\n`);
      } catch (err) {
        throw new CliError(`cordon controller ca seal: ${(err as Error).message}`, 1);
      }
    });
}
