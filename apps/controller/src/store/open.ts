import * as fs from 'node:fs';
import * as path from 'node:path';
import { openPglite } from './pglite.driver';
import { openPostgres } from './pg.driver';
import { SqlStore } from './store';

/** Opens the store the flags ask for (PostgreSQL with a URL, else PGlite under dataDir/pgdata) and migrates it. */
export async function openStore(opts: { dataDir: string; databaseUrl?: string }): Promise<SqlStore> {
  let unlock = () => undefined as void;
  if (!opts.databaseUrl) unlock = lockDataDir(opts.dataDir);
  let db;
  try {
    db = opts.databaseUrl ? await openPostgres(opts.databaseUrl) : await openPglite(path.join(opts.dataDir, 'pgdata'));
  } catch (err) {
    unlock();
    throw err;
  }
  const close = db.close.bind(db);
  db.close = async () => {
    await close();
    unlock();
  };
  const store = new SqlStore(db);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/**
 * PGlite is single-process: a second controller on the same data dir would corrupt it.
 * A pid file guards it; a pid file left by a killed controller is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'controller.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(`${dataDir} is in use by another controller (pid ${pid}); stop it, or give this one its own --data-dir or a shared --database-url`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
