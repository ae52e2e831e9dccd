/**
 * A real, throw-away PostgreSQL 15 server for tests: initdb into a temp dir as the
 * `postgres` user, pg_ctl start on a free loopback port, stop and remove at the end.
 * Missing binaries FAIL the test with the way to install them; they never skip it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './wait';

export interface TestPostgres {
  url: string;
  port: number;
  /** A fresh database on the same server. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

const CANDIDATE_BIN_DIRS = [process.env.PG_BIN, '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'].filter(
  (d): d is string => !!d,
);

export function findPgBin(): string {
  for (const d of CANDIDATE_BIN_DIRS) if (fs.existsSync(path.join(d, 'pg_ctl')) && fs.existsSync(path.join(d, 'initdb'))) return d;
  throw new Error(
    `PostgreSQL server binaries not found (looked in ${CANDIDATE_BIN_DIRS.join(', ')}). ` +
      'Install them (Debian: apt-get install postgresql-15) or set PG_BIN to the directory holding initdb and pg_ctl.',
  );
}


function asPostgres(bin: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  const cmd = isRoot ? 'runuser' : bin;
  const argv = isRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${path.basename(bin)} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout || r.error?.message}`);
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findPgBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { mode: 0o700 });
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:', dir]);
  asPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  asPostgres(path.join(bin, 'pg_ctl'), [
    '-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60',
    '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start',
  ]);
  const base = `postgresql://postgres@127.0.0.1:${port}`;
  let stopped = false;
  const { Client } = await import('pg');
  return {
    url: `${base}/postgres`,
    port,
    async createDatabase(name: string) {
      const c = new Client({ connectionString: `${base}/postgres` });
      await c.connect();
      try {
        await c.query(`create database "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return `${base}/${name}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
