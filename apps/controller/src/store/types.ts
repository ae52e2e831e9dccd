/** Rows as the rest of the controller sees them: camelCase, ISO timestamps. */

export type DocumentKind = 'Segment' | 'Device' | 'Policy' | 'PolicyTest' | 'PostureRule';

export interface StoredDocument {
  apiVersion: string;
  kind: DocumentKind;
  name: string;
  labels: Record<string, string>;
  spec: unknown;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface DocumentWrite {
  apiVersion: string;
  kind: string;
  name: string;
  labels: Record<string, string>;
  spec: unknown;
}

export interface StoredBundle {
  generation: number;
  hash: string;
  createdAt: string;
  bundle: unknown;
}

export type Role = 'viewer' | 'operator' | 'admin';
export type TokenKind = 'api' | 'enrollment';

export interface TokenRecord {
  id: number;
  kind: TokenKind;
  role: Role | 'enforcer';
  name: string;
  createdAt: string;
  expiresAt: string | null;
  usedAt: string | null;
  revoked: boolean;
  /** Enrollment: the enforcer name it may take (null: only a name never used). */
  enforcer: string | null;
  /** Enrollment: it may take `enforcer` from a live enforcer (whose certificates are revoked). */
  replace: boolean;
  /** Enrollment: the name it was spent on. */
  usedBy: string | null;
  /** API: when it last authenticated a request (to the minute, see tokens.service.ts). */
  lastUsedAt: string | null;
  /** API: the admin token of DATA_DIR/admin.token (`cordon token rotate-admin` replaces it). */
  bootstrap: boolean;
}

export interface TokenInsert {
  hash: string;
  kind: TokenKind;
  role: Role | 'enforcer';
  name: string;
  expiresAt: Date | null;
  enforcer?: string | null;
  replace?: boolean;
  bootstrap?: boolean;
}

export interface AuditEntryInput {
  actor: string;
  source?: string | null;
  action: string;
  target?: string | null;
  diff?: unknown;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  source: string | null;
  action: string;
  target: string | null;
  diff: unknown;
  prevHash: string;
  hash: string;
}

export interface EnforcerRecord {
  name: string;
  enrolledAt: string;
  lastSeen: string | null;
  generation: number | null;
  status: Record<string, unknown>;
  certSerial: string | null;
  revoked: boolean;
  /** Its labels: those it reports, with the controller's overrides applied (model/placement/labels.ts). */
  labels: Record<string, string>;
  /** What it reported with its last bundle stream (its --label flags). */
  reportedLabels: Record<string, string>;
  /** Set with `cordon label enforcer`: a value, or null to hide a reported key. */
  labelOverrides: Record<string, string | null>;
}

export interface QuarantineRecord {
  device: string;
  reason: string | null;
  actor: string | null;
  at: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
