/** Segment identity numbers: allocated once, never reused (migration 1). */
import { SqlExecutor } from './sql';

export class IdentityRepository {
  constructor(private readonly x: SqlExecutor) {}

  async all(): Promise<Record<string, number>> {
    const rows = await this.x.query<{ segment: string; id: number }>('select segment, id from identities');
    return Object.fromEntries(rows.map((r) => [r.segment, Number(r.id)]));
  }

  async insert(ids: Record<string, number>): Promise<void> {
    for (const [segment, id] of Object.entries(ids)) {
      await this.x.query('insert into identities (segment, id) values ($1, $2) on conflict (segment) do nothing', [segment, id]);
    }
  }
}
