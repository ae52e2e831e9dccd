import type { Migration } from './migration';

/**
 * Enforcer labels (placement/): those an enforcer reports (its `--label`
 * flags, sent when its bundle stream opens) and the controller's overrides
 * (`cordon label enforcer`, a value or null to hide a reported key).
 * Numbered 1152 (issue 15, its second part) so that migrations other features add meanwhile do not collide.
 */
export const ENFORCER_LABELS_MIGRATION: Migration = {
  version: 1152,
  name: 'enforcer labels',
  sql: `
alter table enforcers add column reported_labels jsonb not null default '{}'::jsonb;
alter table enforcers add column label_overrides jsonb not null default '{}'::jsonb;
`,
};
