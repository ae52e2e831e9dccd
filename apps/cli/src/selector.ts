// SPDX-License-Identifier: Apache-2.0
/**
 * Label selectors of `get -l`, kubectl's grammar: comma-separated requirements, all of
 * which must hold: `k=v` (or `k==v`), `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (has
 * the label), `!k` (has not).
 */
import { CliError } from './context';
import { EXIT } from './exit-codes';

type Labels = Record<string, string> | undefined;
export type Selector = (labels: Labels) => boolean;

/** Splits on commas outside parentheses. */
function requirements(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

const KEY = '[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?';

function requirement(r: string): Selector {
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^(${KEY})\\s+(in|notin)\\s+\\(([^)]*)\\)$`).exec(r))) {
    const key = m[1];
    const values = new Set(m[4].split(',').map((v) => v.trim()).filter(Boolean));
    return m[3] === 'in' ? (l) => l?.[key] !== undefined && values.has(l[key]) : (l) => l?.[key] === undefined || !values.has(l[key]);
  }
  if ((m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*([A-Za-z0-9._-]*)$`).exec(r))) {
    const [key, , op, value] = [m[1], m[2], m[3], m[4]];
    return op === '!=' ? (l) => l?.[key] !== value : (l) => l?.[key] === value;
  }
  if ((m = new RegExp(`^!\\s*(${KEY})$`).exec(r))) {
    const key = m[1];
    return (l) => l?.[key] === undefined;
  }
  if ((m = new RegExp(`^(${KEY})$`).exec(r))) {
    const key = m[1];
    return (l) => l?.[key] !== undefined;
  }
  throw new CliError(`-l: "${r}" is not a label requirement (k=v, k!=v, k in (a,b), k notin (a,b), k, !k)`, EXIT.USAGE);
}

export function parseSelector(text: string): Selector {
  const reqs = requirements(text).map(requirement);
  if (!reqs.length) throw new CliError('-l needs at least one requirement, e.g. -l type=camera', EXIT.USAGE);
  return (labels) => reqs.every((r) => r(labels));
}
