/** Column values as the repositories hand them on: ISO timestamps, opaque page cursors. */

// Not `instanceof Date`: PGlite may hand back Dates from another realm (see pglite.driver.ts).
export const isDate = (v: unknown): v is Date => Object.prototype.toString.call(v) === '[object Date]';
export const iso = (v: unknown): string => (isDate(v) ? new Date(v.getTime()).toISOString() : new Date(String(v)).toISOString());
export const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));

export const encodeCursor = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
export const decodeCursor = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');
