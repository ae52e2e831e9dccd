// SPDX-License-Identifier: Apache-2.0
import type { Bundle, BundleDelta, RuleInfo } from '../../../../model/generation/bundle';
import type { Document } from '../policy/schema';

/** What a compilation starts from besides the documents (compile(), IncrementalCompiler), and what a change to it is and gives. */
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
  /** The site's default resolvers (--dns-resolver), for segments without spec.dns (fqdn-refs.ts segmentResolvers). */
  defaultResolvers?: readonly string[];
}

export interface DocumentRef {
  kind: Document['kind'];
  name: string;
}

/** A change to compile (IncrementalCompiler.update). */
export interface CompileChange {
  /** Documents created or replaced (by kind and name). */
  upsert?: readonly Document[];
  remove?: readonly DocumentRef[];
  /** The whole new quarantine list; omitted: unchanged. */
  quarantined?: readonly string[];
}

/** What a compiled change gives: the next bundle and the delta to it. */
export interface CompileStep {
  bundle: Bundle;
  delta: BundleDelta;
}
