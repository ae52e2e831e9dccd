import { Inject, Injectable } from '@nestjs/common';
import type { Actor } from '../auth/roles';
import type { AuditEntry, AuditVerifyResult, Page, Store } from '../store/store';
import { STORE } from '../di-tokens';

/**
 * The hash-chained audit log. Entries are appended inside the transaction of the
 * change they describe (see ApplyService, TokensService); this service is for
 * changes made elsewhere (the control channel: enforcer revoke, ...) and for reading.
 */
@Injectable()
export class AuditService {
  constructor(@Inject(STORE) private readonly store: Store) {}

  /** Appends one entry in its own transaction. */
  record(actor: Pick<Actor, 'name' | 'source'> | null, action: string, target: string | null, diff?: unknown): Promise<AuditEntry> {
    return this.store.change((tx) => tx.audit.append({ actor: actor?.name ?? 'controller', source: actor?.source ?? null, action, target, diff }));
  }

  page(limit: number, cursor?: string | null): Promise<Page<AuditEntry>> {
    return this.store.audit.page(limit, cursor ? Number(cursor) || 0 : 0);
  }

  verify(): Promise<AuditVerifyResult> {
    return this.store.audit.verify();
  }

  export(onEntry: (e: AuditEntry) => void | Promise<void>): Promise<void> {
    return this.store.audit.export(onEntry);
  }
}
