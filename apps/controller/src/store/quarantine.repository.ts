/** Devices held in the quarantine identity, with who put them there and why. */
import { SqlExecutor } from './sql';
import { iso } from './rows';
import type { QuarantineRecord } from './types';

export class QuarantineRepository {
  constructor(private readonly x: SqlExecutor) {}

  async list(): Promise<QuarantineRecord[]> {
    const rows = await this.x.query('select * from quarantined order by device');
    return rows.map((r) => ({
      device: String(r.device),
      reason: (r.reason as string | null) ?? null,
      actor: (r.actor as string | null) ?? null,
      at: iso(r.at),
    }));
  }

  async add(device: string, reason: string | null, actor: string | null): Promise<boolean> {
    const rows = await this.x.query(
      'insert into quarantined (device, reason, actor) values ($1, $2, $3) on conflict (device) do nothing returning device',
      [device, reason, actor],
    );
    return rows.length > 0;
  }

  async remove(device: string): Promise<boolean> {
    const rows = await this.x.query('delete from quarantined where device = $1 returning device', [device]);
    return rows.length > 0;
  }
}
