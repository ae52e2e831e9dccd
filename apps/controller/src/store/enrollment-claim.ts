/** Spending an enforcer enrollment token on a name: tokens, enforcers and audit in one locked transaction. */
import type { Store } from './store';
import type { EnforcerRecord, TokenRecord } from './types';

/** Why `token` may not enroll as `name` (the enforcer of that name, if any), or null when it may. */
export type EnrollmentRefusal = (token: TokenRecord, name: string, existing: EnforcerRecord | null) => string | null;

export type EnrollmentClaim =
  | { ok: true; token: TokenRecord; existing: EnforcerRecord | null }
  | { ok: false; reason: 'unknown' }
  | { ok: false; reason: 'refused'; message: string };

/**
 * Spends an enrollment token on the enforcer name `name`, under the change lock,
 * so that two enrollments never both take one name. `refuse` says why the token
 * may not take the name (given the enforcer of that name, if any); a refusal
 * spends nothing. Unless the token replaces a live enforcer, the name is taken
 * at once (a row without certificate, revoked = false). The audit entry
 * (`enforcer.enroll`) is written in the same transaction.
 */
export function claimEnrollment(store: Pick<Store, 'change'>, hash: string, name: string, refuse: EnrollmentRefusal): Promise<EnrollmentClaim> {
  return store.change(async (tx) => {
    const token = await tx.tokens.findEnrollment(hash);
    if (!token) return { ok: false, reason: 'unknown' } as const;
    const existing = await tx.enforcers.get(name);
    const why = refuse(token, name, existing);
    if (why) return { ok: false, reason: 'refused', message: why } as const;
    const spent = await tx.tokens.consumeEnrollment(hash, name);
    if (!spent) return { ok: false, reason: 'unknown' } as const;
    // A live enforcer being replaced keeps its row until its certificates are revoked; any other name is taken now.
    if (!existing || existing.revoked) await tx.enforcers.upsert(name, null);
    await tx.audit.append({
      actor: `token:${spent.name}`,
      action: 'enforcer.enroll',
      target: name,
      diff: { token: spent.id, boundTo: spent.enforcer, replace: spent.replace && !!existing && !existing.revoked },
    });
    return { ok: true, token: spent, existing } as const;
  });
}
