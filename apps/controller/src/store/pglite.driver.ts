import * as fs from 'node:fs';
import * as path from 'node:path';
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

/** Embedded PostgreSQL (PGlite, WASM) keeping its files under dataDir. */
export async function openPglite(dataDir: string): Promise<SqlDatabase> {
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let db = await create(dataDir);
  if (fresh) {
    // initdb ran in this process and its WASM instance (~400 MB) stays reachable
    // from the first PGlite; a second open of the now initialised directory lets it go.
    await db.close();
    db = await create(dataDir);
  }
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
