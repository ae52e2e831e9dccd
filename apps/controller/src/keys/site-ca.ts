// SPDX-License-Identifier: Apache-2.0
/**
 * One CA for every controller of a site (issue 14): a CA's certificate and its
 * key sealed under the KEK (keys/kek.ts) are kept in the database (site_cas,
 * store/migration-0141-site-sharing.ts), so that controllers sharing it sign
 * and verify with the same CA — an enforcer enrolled on one talks to another.
 *
 * Around the usual file-based open (ca.crt and ca.key.sealed in the CA's
 * directory), under an advisory lock so that controllers starting together
 * agree: when the database holds the site's CA, its files are written into
 * the directory first (a directory holding another CA is refused: it would
 * split the site); when it holds none, the CA is opened (made, on the first
 * start) as before and its certificate and sealed key are stored for the
 * others. A key in a PKCS#11 token stays there (the token is the shared
 * store): only the certificate goes in the database. A plain, unsealed key
 * never goes in the database: that CA stays this controller's own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SqlDatabase, SqlExecutor } from '../store/sql';
import { KeyStoreError } from './ca-key';

const SITE_CA_LOCK = 7470_7414;

export interface SiteCaFiles {
  /** The CA's directory (DATA_DIR/ca, DATA_DIR/device-ca). */
  dir: string;
  /** site_cas.purpose: `enforcer-ca`, `device-ca`. */
  purpose: string;
  /** The CA's name in errors. */
  what: string;
}

export type SiteCaOutcome = 'from-database' | 'stored' | 'own';

/** A database that can hold the site's CAs (PostgreSQL or PGlite with transactions), or null. */
export function siteDatabase(sql: SqlExecutor | null | undefined): SqlDatabase | null {
  return sql && typeof (sql as SqlDatabase).transaction === 'function' ? (sql as SqlDatabase) : null;
}

/**
 * Opens the CA of `f` with `open` (which reads and, on a first start, writes
 * ca.crt and ca.key.sealed in f.dir), shared through `db`.
 */
export async function openSiteCa<T>(db: SqlDatabase, f: SiteCaFiles, open: () => Promise<T>): Promise<{ ca: T; outcome: SiteCaOutcome }> {
  const certFile = path.join(f.dir, 'ca.crt');
  const keyFile = path.join(f.dir, 'ca.key.sealed');
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [SITE_CA_LOCK]);
    const rows = await tx.query<{ cert_pem: string; sealed_key: unknown }>('select cert_pem, sealed_key from site_cas where purpose = $1', [f.purpose]);
    if (rows.length) {
      const { cert_pem: certPem, sealed_key: sealed } = rows[0];
      if (fs.existsSync(certFile) && fs.readFileSync(certFile, 'utf8').trim() !== certPem.trim()) {
        throw new KeyStoreError(
          `${certFile} holds another ${f.what} than the one of the site this database serves: every controller of a site uses the site's; ` +
            `move ${f.dir} away (this controller then takes the site's), or point --database-url at this controller's own database`,
        );
      }
      fs.mkdirSync(f.dir, { recursive: true, mode: 0o700 });
      writeFile(certFile, certPem.trimEnd() + '\n', 0o644);
      if (sealed) {
        const text = JSON.stringify(typeof sealed === 'string' ? JSON.parse(sealed) : sealed, null, 2) + '\n';
        if (fs.existsSync(path.join(f.dir, 'ca.key'))) {
          throw new KeyStoreError(`${path.join(f.dir, 'ca.key')} holds a plain key, and the site's ${f.what} key is sealed in the database: move the plain key away`);
        }
        writeFile(keyFile, text, 0o600);
      }
      return { ca: await open(), outcome: 'from-database' as const };
    }
    const ca = await open();
    if (!fs.existsSync(certFile)) return { ca, outcome: 'own' as const };
    const certPem = fs.readFileSync(certFile, 'utf8');
    const sealed = fs.existsSync(keyFile) ? JSON.parse(fs.readFileSync(keyFile, 'utf8')) : null;
    // A plain ca.key (no key store) is not shared: the database never holds a CA key in clear.
    if (!sealed && fs.existsSync(path.join(f.dir, 'ca.key'))) return { ca, outcome: 'own' as const };
    await tx.query('insert into site_cas (purpose, cert_pem, sealed_key) values ($1, $2, $3::jsonb)', [f.purpose, certPem, sealed ? JSON.stringify(sealed) : null]);
    return { ca, outcome: 'stored' as const };
  });
}

function writeFile(file: string, data: string, mode: number): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === data) return;
  fs.writeFileSync(file + '.tmp', data, { mode });
  fs.chmodSync(file + '.tmp', mode);
  fs.renameSync(file + '.tmp', file);
}
