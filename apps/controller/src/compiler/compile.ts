/**
 * The policy compiler: documents in, a versioned bundle of datapath entries out.
 *
 * compile() is the one-shot form of IncrementalCompiler (incremental.ts), which
 * keeps the compiled state so that later changes cost what they touch. The
 * precedence rules live with the per-pair compilation (pair.ts), the ipcache
 * ownership rules with the ipcache state (ipcache.ts), the hash with hash.ts.
 */
import type { IpcacheEntry, PolicyEntry } from '../../../../native/lib/abi';
import type { Document } from '../policy/schema';
import { IncrementalCompiler } from './incremental';

export { bundleHash, canonicalIpcacheEntry, canonicalPolicyEntry, canonicalRule } from './hash';
export { decodeInnerKey, entryInnerKey, innerKey, portMask, ruleKeys } from './keys';

export interface RuleInfo {
  ruleId: number;
  policy: string;
  action: 'allow' | 'deny';
  /** Index in the policy's allow or deny list. */
  index: number;
  mode: 'enforce' | 'audit';
}

export interface Bundle {
  generation: number;
  /** Hex sha256 tree hash of identities, ipcache, policy and rules (see hash.ts). */
  hash: string;
  identities: Record<string, number>;
  ipcache: IpcacheEntry[];
  policy: PolicyEntry[];
  rules: RuleInfo[];
  warnings: string[];
}

export interface CompileOptions {
  /** Identities already handed out (the store persists bundle.identities). */
  identities: Record<string, number>;
  generation: number;
  /** Device names moved to the quarantine identity. */
  quarantined?: readonly string[];
  /**
   * The previous generation's rules: a rule (policy, action, index) keeps its id,
   * new rules get the lowest ids none of these holds. Omitted: ids are numbered
   * from 1 by policy name, allow before deny, then index.
   */
  rules?: readonly RuleInfo[];
}

export function compile(docs: readonly Document[], opts: CompileOptions): Bundle {
  return new IncrementalCompiler(docs, opts).bundle;
}
