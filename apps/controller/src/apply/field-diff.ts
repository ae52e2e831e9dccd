/** One changed field between two versions of a document: `spec.cidrs[1]`: from → to. */
export interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A field-level diff: leaves that differ, were added (no `from`) or removed (no `to`). */
export function fieldDiff(a: unknown, b: unknown, path = ''): FieldChange[] {
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => {
      const p = path ? `${path}.${k}` : k;
      if (!Object.hasOwn(b, k) || b[k] === undefined) return a[k] === undefined ? [] : [{ path: p, from: a[k] }];
      if (!Object.hasOwn(a, k) || a[k] === undefined) return [{ path: p, to: b[k] }];
      return fieldDiff(a[k], b[k], p);
    });
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: FieldChange[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const p = `${path}[${i}]`;
      if (i >= b.length) out.push({ path: p, from: a[i] });
      else if (i >= a.length) out.push({ path: p, to: b[i] });
      else out.push(...fieldDiff(a[i], b[i], p));
    }
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, from: a, to: b }];
}
