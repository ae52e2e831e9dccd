// SPDX-License-Identifier: Apache-2.0
import type { RuleInfo } from '../../../../model/generation/bundle';

/** What a compilation starts from besides the documents (compile(), IncrementalCompiler). */
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
