// SPDX-License-Identifier: Apache-2.0
/**
 * The controller's --dns-resolver is part of what a generation holds (the
 * bundle's dnsResolvers, for segments without spec.dns), so a controller
 * started with other addresses than the newest generation was compiled with
 * stores the same documents compiled anew as the next generation, audited as
 * a configuration change; enforcers then learn from the resolvers now given.
 * Verdicts do not depend on resolvers, so PolicyTests are not run again.
 */
import type { StoreWriter } from '../store/store';
import type { SiteState } from './site-state';

export interface ResolverChange {
  generation: number;
  dnsResolvers: string[];
  /** Brings the in-memory site to the stored generation; call once the transaction committed. */
  commit(): void;
}

/** Inside the change transaction, on the site at the newest stored generation: the new generation, or null when its resolvers are the same. */
export async function storeResolverChange(tx: StoreWriter, site: SiteState): Promise<ResolverChange | null> {
  const before = site.storedResolvers ?? [];
  const after = site.compiler.bundle.dnsResolvers ?? [];
  if (before.length === after.length && before.every((a, i) => a === after[i])) return null;
  const generation = site.generation + 1;
  const { bundle, delta } = site.compiler.update({}, generation);
  await tx.insertBundle(generation, bundle.hash, bundle, site.storedMatches ? { delta, baseHash: site.hash } : null);
  await tx.audit.append({
    actor: 'controller',
    source: 'config',
    action: 'config',
    target: 'dns-resolvers',
    diff: { generation, hash: bundle.hash, dnsResolvers: { from: [...before], to: [...after] } },
  });
  await tx.notifyGeneration(generation);
  return {
    generation,
    dnsResolvers: [...after],
    commit: () => Object.assign(site, { generation, hash: bundle.hash, storedMatches: true, storedResolvers: after }),
  };
}
