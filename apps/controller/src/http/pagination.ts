import { badRequest } from './problem';

export const MAX_PAGE = 500;
export const DEFAULT_PAGE = 100;

export function parseLimit(v: unknown): number {
  if (v === undefined || v === '') return DEFAULT_PAGE;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw badRequest(`limit must be an integer from 1 to ${MAX_PAGE}, got "${String(v)}"`);
  return n;
}
