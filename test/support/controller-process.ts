// SPDX-License-Identifier: Apache-2.0
/**
 * A real `cordon controller` process (bin/cordon.js, dist/) on free loopback
 * ports: what tests that SIGKILL a controller need (an in-process one cannot be
 * killed without its test). Resolves once it listens; rejects with its stderr
 * when it exits or does not start within 60 s.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { freePort } from './wait';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin/cordon.js');

export interface ControllerProcess {
  child: ChildProcess;
  url: string;
  grpcAddress: string;
  /** What it wrote on stderr so far. */
  stderr(): string;
}

/** databaseUrl null: the embedded store under dataDir. */
export async function startControllerProcess(dataDir: string, databaseUrl: string | null, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ControllerProcess> {
  const port = await freePort();
  const grpcPort = await freePort();
  const store = databaseUrl === null ? [] : ['--database-url', databaseUrl];
  const args = [BIN, 'controller', '--http', `127.0.0.1:${port}`, '--grpc', `127.0.0.1:${grpcPort}`, '--data-dir', dataDir, ...store, '--log-level', 'warn', ...extra];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, HOME: dataDir, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller did not start in 60s:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`controller exited (${code}):\n${stderr}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, url: `http://127.0.0.1:${port}`, grpcAddress: `127.0.0.1:${grpcPort}`, stderr: () => stderr };
}

/** Resolves when the process has exited (at once if it has). */
export const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
