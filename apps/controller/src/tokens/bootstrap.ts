import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store } from '../store/store';
import { writeAdminTokenFile } from './admin-token-file';
import { API_DEFAULT_TTL, expiryFrom, generateSecret, hashToken } from './tokens.service';

/**
 * First start: make the bootstrap admin token (expiring like every API token,
 * 90 days), write it to DATA_DIR/admin.token (0600) and say so once on stderr.
 * A later start whose file still holds a valid token leaves it alone. A token
 * in the file that expired is replaced by a new one (a restart renews it); one
 * that was revoked (`cordon token rotate-admin` on another controller, `cordon
 * token revoke`) is not: revocation must stick. A data dir joining a shared
 * database that already has admins gets none.
 */
export async function ensureAdminToken(store: Store, dataDir: string, announce: (msg: string) => void): Promise<string> {
  const file = path.join(dataDir, 'admin.token');
  if (fs.existsSync(file)) {
    const secret = fs.readFileSync(file, 'utf8').trim();
    const known = secret ? await store.tokens.getByHash(hashToken(secret)) : null;
    if (known && !known.revoked && (!known.expiresAt || Date.parse(known.expiresAt) > Date.now())) return file;
    if (known?.revoked) {
      announce(`cordon: the admin token in ${file} was revoked; no new one is made (use the current admin token, or cordon token rotate-admin)\n`);
      return file;
    }
    if (!known && (await store.tokens.count('admin')) > 0) return file;
  } else if ((await store.tokens.count('admin')) > 0) {
    return file;
  }
  const secret = generateSecret();
  const expiresAt = expiryFrom(API_DEFAULT_TTL);
  await store.change(async (tx) => {
    const rec = await tx.tokens.insert({ hash: hashToken(secret), kind: 'api', role: 'admin', name: 'admin', expiresAt, bootstrap: true });
    await tx.audit.append({ actor: 'controller', action: 'token.create', target: 'admin', diff: { id: rec.id, kind: 'api', role: 'admin', bootstrap: true, expiresAt: rec.expiresAt } });
  });
  writeAdminTokenFile(dataDir, secret);
  announce(`cordon: created the initial admin token (also in ${file}, mode 0600; expires ${expiresAt.toISOString()}, cordon token rotate-admin replaces it):\n${secret}\n`);
  return file;
}
