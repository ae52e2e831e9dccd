import * as fs from 'node:fs';
import * as path from 'node:path';

/** DATA_DIR/admin.token, written whole (temporary file, then rename), mode 0600. Returns its path. */
export function writeAdminTokenFile(dataDir: string, secret: string): string {
  const file = path.join(dataDir, 'admin.token');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, secret + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}
