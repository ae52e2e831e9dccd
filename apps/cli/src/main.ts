#!/usr/bin/env node
/** The `cordon` executable (bin/cordon.js loads the compiled form of this file). */
import 'reflect-metadata';
import { runCli } from './cli';

export { runCli } from './cli';

runCli(process.argv.slice(2), {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  isTTY: !!process.stdout.isTTY,
}).then(
  ({ code }) => {
    process.exitCode = code;
    // Let stdout drain and exit naturally; if a stray handle lingers, do not hang.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
