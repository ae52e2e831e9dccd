// SPDX-License-Identifier: Apache-2.0
/** SQL over enforcer_scopes (store/migration-0111-enforcer-scopes.ts): the prefixes an operator declared per enforcer. */
import type { SqlExecutor } from '../store/sql';

export class EnforcerScopes {
  constructor(private readonly x: SqlExecutor) {}

  async get(name: string): Promise<string[] | null> {
    const rows = await this.x.query<{ prefixes: unknown }>('select prefixes from enforcer_scopes where name = $1', [name]);
    return rows.length && Array.isArray(rows[0].prefixes) ? (rows[0].prefixes as string[]) : null;
  }

  /** null removes the declaration (the enforcer serves the site's own addresses again). */
  async set(name: string, prefixes: string[] | null, actor: string): Promise<void> {
    if (prefixes === null) await this.x.query('delete from enforcer_scopes where name = $1', [name]);
    else {
      await this.x.query(
        `insert into enforcer_scopes (name, prefixes, actor) values ($1, $2::jsonb, $3)
         on conflict (name) do update set prefixes = excluded.prefixes, actor = excluded.actor, updated_at = now()`,
        [name, JSON.stringify(prefixes), actor],
      );
    }
  }
}
