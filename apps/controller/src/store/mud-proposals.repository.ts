// SPDX-License-Identifier: Apache-2.0
/**
 * MUD proposals (migration 125): per device, the MUD URL it announced, the
 * file fetched for it (with its signer and cache-validity), the documents it
 * became and their status. A file still valid for a URL is reused for every
 * device announcing that URL (RFC 8520 cache-validity).
 */
import { SqlExecutor } from './sql';
import { iso, isoOrNull } from './rows';

export type MudProposalStatus = 'pending' | 'applied' | 'failed';

export interface MudProposal {
  device: string;
  mac: string | null;
  address: string | null;
  enforcer: string | null;
  url: string;
  /** How the URL was announced: dhcpv4, dhcpv6, certificate, api. */
  source: string;
  status: MudProposalStatus;
  mud: unknown;
  /** The signer's subject, or null when the file names no signature. */
  signedBy: string | null;
  documents: unknown[];
  notes: string[];
  error: string | null;
  fetchedAt: string | null;
  validUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

export type MudProposalWrite = Omit<MudProposal, 'createdAt' | 'updatedAt'>;

const toProposal = (r: Record<string, any>): MudProposal => ({
  device: String(r.device),
  mac: r.mac ?? null,
  address: r.address ?? null,
  enforcer: r.enforcer ?? null,
  url: String(r.url),
  source: String(r.source),
  status: r.status,
  mud: r.mud ?? null,
  signedBy: r.signed_by ?? null,
  documents: r.documents ?? [],
  notes: r.notes ?? [],
  error: r.error ?? null,
  fetchedAt: isoOrNull(r.fetched_at),
  validUntil: isoOrNull(r.valid_until),
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

export class MudProposalRepository {
  constructor(private readonly x: SqlExecutor) {}

  async list(status?: MudProposalStatus): Promise<MudProposal[]> {
    const rows = status ? await this.x.query('select * from mud_proposals where status = $1 order by device', [status]) : await this.x.query('select * from mud_proposals order by device');
    return rows.map(toProposal);
  }

  async get(device: string): Promise<MudProposal | null> {
    const rows = await this.x.query('select * from mud_proposals where device = $1', [device]);
    return rows.length ? toProposal(rows[0]) : null;
  }

  async upsert(p: MudProposalWrite): Promise<void> {
    await this.x.query(
      `insert into mud_proposals (device, mac, address, enforcer, url, source, status, mud, signed_by, documents, notes, error, fetched_at, valid_until)
       values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11::jsonb, $12, $13, $14)
       on conflict (device) do update set mac = excluded.mac, address = excluded.address, enforcer = excluded.enforcer, url = excluded.url,
         source = excluded.source, status = excluded.status, mud = excluded.mud, signed_by = excluded.signed_by, documents = excluded.documents,
         notes = excluded.notes, error = excluded.error, fetched_at = excluded.fetched_at, valid_until = excluded.valid_until, updated_at = now()`,
      [p.device, p.mac, p.address, p.enforcer, p.url, p.source, p.status, JSON.stringify(p.mud ?? null), p.signedBy, JSON.stringify(p.documents), JSON.stringify(p.notes), p.error, p.fetchedAt, p.validUntil],
    );
  }

  async setStatus(device: string, status: MudProposalStatus, error: string | null = null): Promise<boolean> {
    const rows = await this.x.query('update mud_proposals set status = $2, error = $3, updated_at = now() where device = $1 returning device', [device, status, error]);
    return rows.length > 0;
  }

  /** A file fetched for url and still within its cache-validity at `now`, from any device's proposal. */
  async validFile(url: string, now: Date): Promise<{ mud: unknown; signedBy: string | null; fetchedAt: string; validUntil: string } | null> {
    const rows = await this.x.query(
      'select mud, signed_by, fetched_at, valid_until from mud_proposals where url = $1 and mud is not null and valid_until > $2 order by fetched_at desc limit 1',
      [url, now.toISOString()],
    );
    if (!rows.length || rows[0].mud === null) return null;
    return { mud: rows[0].mud, signedBy: (rows[0].signed_by as string | null) ?? null, fetchedAt: iso(rows[0].fetched_at), validUntil: iso(rows[0].valid_until) };
  }

  /** The signer whose file for url was accepted (RFC 8520 §13.2 pinning), or null when none signed one yet. */
  async pinnedSigner(url: string): Promise<string | null> {
    const rows = await this.x.query('select signer from mud_signers where url = $1', [url]);
    return rows.length ? (rows[0].signer as string) : null;
  }

  /** Pins url to signer: files signed by anyone else are held for review from now on. */
  async pinSigner(url: string, signer: string): Promise<void> {
    await this.x.query('insert into mud_signers (url, signer) values ($1, $2) on conflict (url) do update set signer = excluded.signer, accepted_at = now()', [url, signer]);
  }
}
