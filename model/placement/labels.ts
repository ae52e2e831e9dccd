// SPDX-License-Identifier: Apache-2.0
/**
 * Enforcer labels (DESIGN.md "Context: when and where"): what an enforcer is
 * (`site=plant-1`), set by `--label` at its start and by `cordon label
 * enforcer` on the controller, and what a Policy or Segment's `enforcers:`
 * selector matches (every key equal, as Kubernetes' matchLabels).
 *
 * Keys and values follow Kubernetes' label syntax: a key is a name of at most
 * 63 characters ([A-Za-z0-9], with "-", "_", "." inside), optionally prefixed
 * by a DNS subdomain and "/"; a value is empty or such a name.
 *
 * Where they come from: the labels an enforcer reports (its flags) merged with
 * the controller's overrides, key by key, the controller's winning: an
 * override `null` removes a reported key (`cordon label enforcer gw-1 site-`).
 */

export type Labels = Record<string, string>;
/** Controller-side labels: a value sets the key, null hides the enforcer's own. */
export type LabelOverrides = Record<string, string | null>;

const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/** At most this many labels on one enforcer or in one selector. */
export const MAX_LABELS = 64;

/** Why a label key is invalid, or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && (prefix.length === 0 || prefix.length > 253 || !PREFIX.test(prefix))) {
    return `label key ${JSON.stringify(key)}: its prefix must be a DNS subdomain (lowercase letters, digits, "-" and ".", at most 253 characters)`;
  }
  if (!NAME.test(name)) {
    return `label key ${JSON.stringify(key)}: a key is 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit (optionally prefixed "domain/")`;
  }
  return null;
}

/** Why a label value is invalid, or null. */
export function labelValueProblem(key: string, value: unknown): string | null {
  if (typeof value !== 'string') return `label ${key}: the value must be a string (quote numbers and booleans)`;
  if (value !== '' && !NAME.test(value)) {
    return `label ${key}=${JSON.stringify(value)}: a value is empty or 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return null;
}

/** The first problem of a label set, or null. */
export function labelsProblem(labels: Record<string, unknown>): string | null {
  const keys = Object.keys(labels);
  if (keys.length > MAX_LABELS) return `at most ${MAX_LABELS} labels`;
  for (const k of keys) {
    const p = labelKeyProblem(k) ?? labelValueProblem(k, labels[k]);
    if (p) return p;
  }
  return null;
}

/**
 * `k=v` (set) or `k-` (remove), as `--label` and `cordon label` take them.
 * Throws with the reason on anything else.
 */
export function parseLabelArg(arg: string, allowRemove: boolean): { key: string; value: string | null } {
  if (allowRemove && arg.endsWith('-') && !arg.includes('=')) {
    const key = arg.slice(0, -1);
    const p = labelKeyProblem(key);
    if (p) throw new Error(p);
    return { key, value: null };
  }
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new Error(`label ${JSON.stringify(arg)}: write KEY=VALUE${allowRemove ? ' (or KEY- to remove it)' : ''}`);
  const key = arg.slice(0, eq);
  const value = arg.slice(eq + 1);
  const p = labelKeyProblem(key) ?? labelValueProblem(key, value);
  if (p) throw new Error(p);
  return { key, value };
}

/** An enforcer's labels: what it reports, with the controller's overrides applied key by key. */
export function effectiveLabels(reported: Labels, overrides: LabelOverrides): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(reported)) if (!Object.hasOwn(overrides, k)) out[k] = v;
  for (const [k, v] of Object.entries(overrides)) if (v !== null) out[k] = v;
  return sortedLabels(out);
}

/** matchLabels: every key of the selector is on the enforcer with that value. No selector: everywhere. */
export function selectorMatchesEnforcer(selector: Labels | undefined, labels: Labels): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  return true;
}

export function sortedLabels(labels: Labels): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k];
  return out;
}

/** `a=1,b=2` (sorted): how labels print, and a key for a label set. */
export function formatLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

export function sameLabels(a: Labels, b: Labels): boolean {
  return formatLabels(a) === formatLabels(b) && Object.keys(a).length === Object.keys(b).length;
}
