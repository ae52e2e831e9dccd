import type { Migration } from './migration';

/**
 * Issue 14: `state_seq`, the last batch of the enforcer's run whose derived
 * state (unknown devices, observed tuples, rule uses, plaintext tallies) is in
 * the store. A batch is claimed (`last_seq`) when it arrives and acknowledged
 * once its derived state is written behind; a batch resent after its
 * controller died between the two is counted once (`last_seq`) and fed again
 * to the derived state (`state_seq` below it), so neither is lost.
 */
export const FLOW_STATE_MARKS_MIGRATION: Migration = {
  version: 1340,
  name: 'flow batch state marks',
  sql: `alter table flow_sequences add column state_seq bigint not null default 0;`,
};
