// SPDX-License-Identifier: Apache-2.0
/**
 * What the control channel needs from the rest of the controller, as the
 * smallest interfaces it can live with. The store (apps/controller/src/store)
 * and the current generation (apps/controller/src/bundles/current-generation.ts)
 * satisfy them structurally.
 */
import type { Observable } from 'rxjs';
import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import type { EnrollmentClaim, EnrollmentRefusal } from '../store/enrollment-claim';
import type { StreamLimits } from './flows/stream-limits';
import type { Document } from '../policy/schema';

export const CONTROL_STORE = Symbol('CONTROL_STORE');
export const GENERATION_SOURCE = Symbol('GENERATION_SOURCE');
export const CONTROL_CONFIG = Symbol('CONTROL_CONFIG');

/** A subset of SqlStore. */
export interface ControlStore {
  /**
   * Spends a one-time enrollment token (by sha256 hex of its secret) on an enforcer
   * name, when `refuse` lets it take that name (store.ts documents the rest).
   */
  claimEnrollment(hash: string, name: string, refuse: EnrollmentRefusal): Promise<EnrollmentClaim>;
  getEnforcer(name: string): Promise<{ name: string; revoked: boolean; certSerial: string | null } | null>;
  upsertEnforcer(name: string, certSerial: string | null): Promise<unknown>;
  setEnforcerCertSerial(name: string, certSerial: string): Promise<void>;
  recordEnforcerSeen(name: string, update: { generation?: number | null; status?: Record<string, unknown> }): Promise<void>;
  /** Replaces what an enforcer reported learning from DNS answers (ReportFqdn); without it the reports are taken and not kept. */
  recordLearnedNames?(name: string, total: number, names: readonly { name: string; address: string; expiresAt: number; selectors: string[] }[]): Promise<void>;
  revokeEnforcer(name: string): Promise<boolean>;
  /** Tells every controller sharing the database (PostgreSQL) that an enforcer was revoked. */
  notifyRevocation?(enforcer: string): Promise<void>;
  /** Calls cb with each enforcer revoked by any controller sharing the database. */
  listenRevocations?(cb: (enforcer: string) => void): Promise<() => Promise<void>>;
}

/** Identity -> segment name in the current generation (model/generation/names.ts). */
export interface SegmentNames {
  segmentOf(identity: number): string;
}

/** A published generation: its bundle and the documents it was compiled from. */
export interface Published {
  bundle: Bundle | null;
  docs: readonly Document[];
}

/** A subset of CurrentGeneration. */
export interface GenerationSource extends SegmentNames {
  /** Each generation once loaded; replays the current one on subscribe (bundle null: none yet). */
  published$: Observable<Published>;
  /** The newest generation known, once loaded. */
  latest(): Promise<Published>;
  /** The stored delta from an enforcer's base (generation and hash) to `to`; null: send `to` whole. */
  deltaTo(to: Bundle, base: { generation: number; hash: string }): Promise<BundleDelta | null>;
  /** The Policy document a rule id of the current generation comes from; null for 0 or unknown. */
  policyOf(ruleId: number): string | null;
}

export interface ControlConfig {
  /** gRPC listen address, `0.0.0.0:7471`. */
  grpc: string;
  dataDir: string;
  /** Enforcer certificate lifetime, ms (default 24h). */
  certTtlMs?: number;
  /** Extra DNS names / addresses for the server certificate. */
  serverNames?: string[];
  /** GET /v1/flows/stream's caps (flows/flow-stream.ts STREAM_DEFAULTS for what is not given). */
  stream?: Partial<StreamLimits>;
}
