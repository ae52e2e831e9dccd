// SPDX-License-Identifier: Apache-2.0
/**
 * Identity number -> segment name, for one generation: the one mapping that
 * the enforcer (its metric labels) and the controller (flow counters, events,
 * monitoring, reports) use. Built-in identities have their fixed names; the
 * bundle lists the segments' (and may list the built-ins too).
 */
import { IDENTITY } from '../../native/lib/abi';

const BUILTIN_NAMES: ReadonlyMap<number, string> = new Map([
  [IDENTITY.WORLD, 'world'],
  [IDENTITY.HOST, 'host'],
  [IDENTITY.QUARANTINE, 'quarantine'],
]);

export class IdentityNames {
  private readonly byId = new Map<number, string>(BUILTIN_NAMES);

  constructor(identities: Readonly<Record<string, number>> = {}) {
    for (const [name, id] of Object.entries(identities)) this.byId.set(id, name);
  }

  /** The segment (or built-in) name of an identity; undefined when the generation does not know it. */
  nameOf(id: number): string | undefined {
    return this.byId.get(id);
  }

  /**
   * Whether a name is one segmentOf can give for this generation: a segment's,
   * a built-in's, or `unknown` (metric series of any other name are stale).
   */
  has(name: string): boolean {
    if (name === 'unknown') return true;
    if (!this.names) this.names = new Set(this.byId.values());
    return this.names.has(name);
  }
  private names: Set<string> | null = null;

  /** The name, or `unknown` (identity 0, or one this generation does not hold). */
  segmentOf(id: number): string {
    return this.byId.get(id) ?? 'unknown';
  }
}
