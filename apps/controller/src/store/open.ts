import * as path from 'node:path';
import { openPglite } from './pglite.driver';
import { openPostgres } from './pg.driver';
import { SqlStore } from './store';

/** Opens the store the flags ask for (PostgreSQL with a URL, else PGlite under dataDir/pgdata) and migrates it. */
export async function openStore(opts: { dataDir: string; databaseUrl?: string }): Promise<SqlStore> {
  const db = opts.databaseUrl ? await openPostgres(opts.databaseUrl) : await openPglite(path.join(opts.dataDir, 'pgdata'));
  const store = new SqlStore(db);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}
