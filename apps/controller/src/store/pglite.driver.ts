import * as fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { SqlDatabase, SqlExecutor } from './sql';

/** Embedded PostgreSQL (PGlite, WASM) keeping its files under dataDir. */
export async function openPglite(dataDir: string): Promise<SqlDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create(dataDir);
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
