/** Enrolled enforcers: certificate serial, revocation, last heartbeat and status (migration 1). */
import { SqlExecutor } from './sql';
import { iso, isoOrNull } from './rows';
import type { EnforcerRecord } from './types';
import { effectiveLabels, type LabelOverrides, type Labels } from '../../../../model/placement/labels';

const jsonMap = <T>(v: unknown): Record<string, T> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, T>) : {});

function toEnforcer(r: Record<string, unknown>): EnforcerRecord {
  return {
    name: String(r.name),
    enrolledAt: iso(r.enrolled_at),
    lastSeen: isoOrNull(r.last_seen),
    generation: r.generation === null || r.generation === undefined ? null : Number(r.generation),
    status: (r.status as Record<string, unknown>) ?? {},
    certSerial: (r.cert_serial as string | null) ?? null,
    revoked: Boolean(r.revoked),
    labels: effectiveLabels(jsonMap<string>(r.reported_labels), jsonMap<string | null>(r.label_overrides)),
    reportedLabels: jsonMap<string>(r.reported_labels),
    labelOverrides: jsonMap<string | null>(r.label_overrides),
  };
}

export class EnforcerRepository {
  constructor(private readonly x: SqlExecutor) {}

  async list(): Promise<EnforcerRecord[]> {
    return (await this.x.query('select * from enforcers order by name')).map(toEnforcer);
  }

  async get(name: string): Promise<EnforcerRecord | null> {
    const rows = await this.x.query('select * from enforcers where name = $1', [name]);
    return rows.length ? toEnforcer(rows[0]) : null;
  }

  /** What authenticating a call needs of the row (PeerAuth.admit: once per stream), without its status and labels. */
  async getAuth(name: string): Promise<{ name: string; revoked: boolean; certSerial: string | null } | null> {
    const rows = await this.x.query('select name, revoked, cert_serial from enforcers where name = $1', [name]);
    return rows.length ? { name: String(rows[0].name), revoked: Boolean(rows[0].revoked), certSerial: (rows[0].cert_serial as string | null) ?? null } : null;
  }

  /** Records a (re-)enrollment: clears `revoked`, sets the certificate serial. */
  async upsert(name: string, certSerial: string | null): Promise<EnforcerRecord> {
    const rows = await this.x.query(
      `insert into enforcers (name, cert_serial) values ($1, $2)
       on conflict (name) do update set cert_serial = excluded.cert_serial, enrolled_at = now(), revoked = false
       returning *`,
      [name, certSerial],
    );
    return toEnforcer(rows[0]);
  }

  async setCertSerial(name: string, certSerial: string): Promise<void> {
    await this.x.query('update enforcers set cert_serial = $2 where name = $1', [name, certSerial]);
  }

  /** Heartbeat/status from a connected enforcer. */
  async recordSeen(name: string, u: { generation?: number | null; status?: Record<string, unknown> }): Promise<void> {
    await this.x.query(
      `update enforcers set last_seen = now(),
         generation = coalesce($2, generation),
         status = coalesce($3::jsonb, status)
       where name = $1`,
      [name, u.generation ?? null, u.status ? JSON.stringify(u.status) : null],
    );
  }

  /** The labels an enforcer reports (when its bundle stream opens); false when it is not enrolled. */
  async setReportedLabels(name: string, labels: Labels): Promise<boolean> {
    return (await this.x.query('update enforcers set reported_labels = $2::jsonb where name = $1 returning name', [name, JSON.stringify(labels)])).length > 0;
  }

  /** Replaces the controller's overrides; null when the enforcer is not enrolled. */
  async setLabelOverrides(name: string, overrides: LabelOverrides): Promise<EnforcerRecord | null> {
    const rows = await this.x.query('update enforcers set label_overrides = $2::jsonb where name = $1 returning *', [name, JSON.stringify(overrides)]);
    return rows.length ? toEnforcer(rows[0]) : null;
  }

  async revoke(name: string): Promise<boolean> {
    return (await this.x.query('update enforcers set revoked = true where name = $1 returning name', [name])).length > 0;
  }
}
