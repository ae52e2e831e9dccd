import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store } from '../store/store';
import { generateSecret, hashToken } from './tokens.service';

/**
 * First start: make an admin token, write it to DATA_DIR/admin.token (0600) and say so
 * once on stderr. A later start whose file still holds a valid token leaves it alone;
 * a data dir joining a shared database that already has admins gets none.
 */
export async function ensureAdminToken(store: Store, dataDir: string, announce: (msg: string) => void): Promise<string> {
  const file = path.join(dataDir, 'admin.token');
  if (fs.existsSync(file)) {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (await store.findApiToken(hashToken(secret))) return file;
  }
  if (!fs.existsSync(file) && (await store.countTokens('admin')) > 0) return file;
  const secret = generateSecret();
  await store.change(async (tx) => {
    await tx.insertToken({ hash: hashToken(secret), kind: 'api', role: 'admin', name: 'admin', expiresAt: null });
    await tx.appendAudit({ actor: 'controller', action: 'token.create', target: 'admin', diff: { kind: 'api', role: 'admin', bootstrap: true } });
  });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, secret + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  fs.chmodSync(file, 0o600);
  announce(`cordon: created the initial admin token (also in ${file}, mode 0600):\n${secret}\n`);
  return file;
}
