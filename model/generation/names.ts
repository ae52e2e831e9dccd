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

  /** The name, or `unknown` (identity 0, or one this generation does not hold). */
  segmentOf(id: number): string {
    return this.byId.get(id) ?? 'unknown';
  }
}
