/**
 * The names each enforcer reported learning from DNS answers (migration 1270):
 * its last report whole, as JSON, so that a report is one write and a listing
 * one read, on whichever controller of the site.
 */
import { SqlExecutor } from './sql';
import { iso } from './rows';

export interface StoredLearnedName {
  name: string;
  address: string;
  /** Unix ms. */
  expiresAt: number;
  selectors: string[];
}

export interface LearnedNamesReport {
  enforcer: string;
  reportedAt: string;
  /** How many the enforcer holds; more than names.length when the report left some out. */
  total: number;
  names: StoredLearnedName[];
}

export class LearnedNamesRepository {
  constructor(private readonly x: SqlExecutor) {}

  async replace(enforcer: string, total: number, names: readonly StoredLearnedName[]): Promise<void> {
    await this.x.query(
      `insert into learned_names (enforcer, total, names) values ($1, $2, $3::jsonb)
       on conflict (enforcer) do update set reported_at = now(), total = excluded.total, names = excluded.names`,
      [enforcer, total, JSON.stringify(names)],
    );
  }

  /** Every enforcer's last report (or one enforcer's), by enforcer name. */
  async list(enforcer?: string): Promise<LearnedNamesReport[]> {
    const rows = enforcer
      ? await this.x.query('select * from learned_names where enforcer = $1', [enforcer])
      : await this.x.query('select * from learned_names order by enforcer');
    return rows.map((r) => ({
      enforcer: String(r.enforcer),
      reportedAt: iso(r.reported_at),
      total: Number(r.total),
      names: (typeof r.names === 'string' ? JSON.parse(r.names) : r.names) as StoredLearnedName[],
    }));
  }

  /** An enforcer deleted or revoked: what it reported goes too. */
  async forget(enforcer: string): Promise<void> {
    await this.x.query('delete from learned_names where enforcer = $1', [enforcer]);
  }
}
