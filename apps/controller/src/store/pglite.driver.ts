import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { SqlDatabase, SqlExecutor } from './sql';

/**
 * PostgreSQL's defaults are sized for a server (128 MB shared buffers, 100
 * connections); one embedded session over a site's few tens of MB needs far less,
 * and every megabyte here is WASM memory the controller keeps for its life.
 */
const START_PARAMS = ['-c', 'shared_buffers=16MB', '-c', 'wal_buffers=1MB', '-c', 'max_connections=3', '-c', 'temp_buffers=2MB'];

async function create(dataDir: string): Promise<PGlite> {
  return PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...START_PARAMS] });
}

/**
 * initdb in a child process: PGlite runs it in a WASM instance of ~400 MB that
 * stays reachable from the PGlite that ran it and is only collected whenever V8
 * gets to it (an idle controller measured 350 to 675 MB by luck); a child's
 * memory is gone when it exits.
 */
async function initialise(dataDir: string): Promise<void> {
  const script = `require(${JSON.stringify(require.resolve('@electric-sql/pglite'))}).PGlite.create(process.argv[1]).then((db) => db.close()).catch((e) => { console.error(e.message); process.exit(1); });`;
  await promisify(execFile)(process.execPath, ['-e', script, dataDir], { timeout: 120_000 });
}

/** Embedded PostgreSQL (PGlite, WASM) keeping its files under dataDir. */
export async function openPglite(dataDir: string): Promise<SqlDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) await initialise(dataDir);
  const db = await create(dataDir);
  const exec = (q: { query: PGlite['query']; exec: PGlite['exec'] }): SqlExecutor => ({
    async exec(script: string) {
      await q.exec(script);
    },
    async query<T>(text: string, params: unknown[] = []) {
      const res = await q.query<T>(text, params);
      return res.rows;
    },
  });
  const root = exec(db);
  return {
    driver: 'pglite',
    query: root.query,
    exec: root.exec,
    transaction: (fn) => db.transaction((tx) => fn(exec(tx as unknown as { query: PGlite['query']; exec: PGlite['exec'] }))),
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
