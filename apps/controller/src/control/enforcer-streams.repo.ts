// SPDX-License-Identifier: Apache-2.0
/**
 * SQL over enforcer_streams (store/migration-1280-enforcer-streams.ts): which
 * controller of the site holds each enforcer's bundle stream. Times are the
 * database's (now()), so controllers with skewed clocks still agree on what
 * is stale.
 */
import type { SqlExecutor } from '../store/sql';

/** A row not refreshed for this long is a dead controller's: it no longer counts (rows are refreshed every 15 s). */
export const STREAM_LIVE_WITHIN_S = 45;

export class EnforcerStreams {
  constructor(private readonly x: SqlExecutor) {}

  /** Makes `controller`'s rows exactly `enforcers` (those with an open watch there), refreshed now. */
  async sync(controller: string, enforcers: readonly string[]): Promise<void> {
    await this.x.query('delete from enforcer_streams where controller = $1 and not (enforcer = any($2::text[]))', [controller, enforcers]);
    if (!enforcers.length) return;
    await this.x.query(
      `insert into enforcer_streams (enforcer, controller) select unnest($2::text[]), $1
       on conflict (enforcer, controller) do update set refreshed_at = now()`,
      [controller, enforcers],
    );
  }

  /** Forgets every row of `controller` (it stops). */
  async clear(controller: string): Promise<void> {
    await this.x.query('delete from enforcer_streams where controller = $1', [controller]);
  }

  /** Enforcer -> the controller serving it; with two (moving from one to another), the newest stream's. */
  async connections(): Promise<Map<string, string>> {
    const rows = await this.x.query<{ enforcer: string; controller: string }>(
      `select enforcer, controller from enforcer_streams
       where refreshed_at > now() - make_interval(secs => $1)
       order by opened_at desc, controller`,
      [STREAM_LIVE_WITHIN_S],
    );
    const out = new Map<string, string>();
    for (const r of rows) if (!out.has(r.enforcer)) out.set(r.enforcer, r.controller);
    return out;
  }
}
