/** The hash-chained audit log and its head (migration 1). */
import { canonicalJson, sha256Hex } from './canonical';
import { SqlExecutor } from './sql';
import type { AuditEntry, AuditEntryInput, Page } from './types';

/** The hash before the first audit entry. */
export const AUDIT_GENESIS = '0'.repeat(64);

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** The first entry id found altered, removed or out of order. */
  firstBadId?: number;
  reason?: string;
}

/** The newest entry the chain's head records. */
export interface AuditHead {
  lastId: number;
  hash: string;
}

function toAudit(r: Record<string, unknown>): AuditEntry {
  return {
    id: Number(r.id),
    at: String(r.at),
    actor: String(r.actor),
    source: (r.source as string | null) ?? null,
    action: String(r.action),
    target: (r.target as string | null) ?? null,
    diff: r.diff ?? null,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

/** What the hash of an audit entry covers: every column but the hashes, in canonical JSON. */
export function auditEntryHash(prevHash: string, e: Omit<AuditEntry, 'prevHash' | 'hash'>): string {
  const row = { id: e.id, at: e.at, actor: e.actor, source: e.source, action: e.action, target: e.target, diff: e.diff ?? null };
  return sha256Hex(prevHash + canonicalJson(row));
}

export class AuditRepository {
  constructor(private readonly x: SqlExecutor) {}

  async page(limit: number, afterId = 0): Promise<Page<AuditEntry>> {
    const rows = await this.x.query('select * from audit where id > $1 order by id limit $2', [afterId, limit + 1]);
    const items = rows.slice(0, limit).map(toAudit);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1].id) : null };
  }

  async head(): Promise<AuditHead | null> {
    const head = await this.x.query<{ last_id: number; hash: string }>('select last_id, hash from audit_head');
    return head.length ? { lastId: Number(head[0].last_id), hash: String(head[0].hash) } : null;
  }

  /** Appends one hash-chained entry. Only inside Store.change (it needs the lock). */
  async append(e: AuditEntryInput): Promise<AuditEntry> {
    const head = await this.head();
    const prevHash = head ? head.hash : AUDIT_GENESIS;
    const id = head ? head.lastId + 1 : 1;
    // The diff is hashed as it will read back from jsonb (which drops undefined and reorders keys).
    const diff = e.diff === undefined ? null : JSON.parse(JSON.stringify(e.diff));
    const entry = { id, at: new Date().toISOString(), actor: e.actor, source: e.source ?? null, action: e.action, target: e.target ?? null, diff };
    const hash = auditEntryHash(prevHash, entry);
    await this.x.query(
      `insert into audit (id, at, actor, source, action, target, diff, prev_hash, hash)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
      [id, entry.at, entry.actor, entry.source, entry.action, entry.target, JSON.stringify(diff), prevHash, hash],
    );
    await this.x.query(
      `insert into audit_head (one, last_id, hash) values (true, $1, $2)
       on conflict (one) do update set last_id = excluded.last_id, hash = excluded.hash`,
      [id, hash],
    );
    return { ...entry, prevHash, hash };
  }

  async verify(): Promise<AuditVerifyResult> {
    let prevHash = AUDIT_GENESIS;
    let expectId = 1;
    let entries = 0;
    let after = 0;
    for (;;) {
      const page = await this.page(500, after);
      for (const e of page.items) {
        if (e.id !== expectId) {
          return { ok: false, entries, firstBadId: Math.min(e.id, expectId), reason: e.id > expectId ? `entry ${expectId} is missing` : `entry ${e.id} is out of order` };
        }
        if (e.prevHash !== prevHash) {
          return { ok: false, entries, firstBadId: e.id, reason: `entry ${e.id} does not follow entry ${e.id - 1} (an entry before it was altered or removed)` };
        }
        if (auditEntryHash(prevHash, e) !== e.hash) {
          return { ok: false, entries, firstBadId: e.id, reason: `entry ${e.id} was altered: its content does not match its hash` };
        }
        prevHash = e.hash;
        expectId++;
        entries++;
      }
      if (!page.nextCursor) break;
      after = Number(page.nextCursor);
    }
    const head = await this.head();
    const headId = head ? head.lastId : 0;
    if (headId !== expectId - 1 || (head && head.hash !== prevHash)) {
      return { ok: false, entries, firstBadId: expectId, reason: `the log ends at entry ${expectId - 1} but its head records entry ${headId}: newest entries were removed or altered` };
    }
    return { ok: true, entries };
  }

  async export(onEntry: (e: AuditEntry) => void | Promise<void>): Promise<void> {
    let after = 0;
    for (;;) {
      const page = await this.page(500, after);
      for (const e of page.items) await onEntry(e);
      if (!page.nextCursor) return;
      after = Number(page.nextCursor);
    }
  }
}
