// SPDX-License-Identifier: Apache-2.0
/**
 * The upgrade path from the lists kept in files (DATA_DIR/ca/issued.json and
 * revoked.json, before issue 14) to the store: read once at start, checked
 * whole (a bad file is refused with its name and entry, and nothing is
 * taken), imported, then renamed *.imported so they are neither read again
 * nor mistaken for the lists in use. Nothing writes them any more.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IssuedCert, RevokedCert } from './certificate-lists';

export class LegacyListError extends Error {}

export interface LegacyImporter {
  importRecords(issued: IssuedCert[], revoked: RevokedCert[]): Promise<{ issued: number; revoked: number }>;
}

const SERIAL = /^[0-9a-f]{1,64}$/;

function date(v: unknown): string | null {
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) return null;
  return new Date(v).toISOString();
}

function readList<T>(file: string, parse: (e: Record<string, unknown>) => T | string): T[] {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new LegacyListError(`${file} is not JSON (${(err as Error).message}): fix or move it away, then start again`);
  }
  if (!Array.isArray(data)) throw new LegacyListError(`${file} must hold a JSON array of certificates: fix or move it away, then start again`);
  return data.map((e, i) => {
    const r = e && typeof e === 'object' ? parse(e as Record<string, unknown>) : 'not an object';
    if (typeof r === 'string') throw new LegacyListError(`${file} entry ${i}: ${r}: fix or move the file away, then start again`);
    return r;
  });
}

function issuedEntry(e: Record<string, unknown>): IssuedCert | string {
  const serial = typeof e.serial === 'string' ? e.serial.toLowerCase() : '';
  if (!SERIAL.test(serial)) return 'serial must be hex';
  if (typeof e.name !== 'string' || !e.name) return 'name must be a non-empty string';
  if (e.kind !== 'enforcer' && e.kind !== 'server') return 'kind must be enforcer or server';
  const issuedAt = date(e.issuedAt);
  const notAfter = date(e.notAfter);
  if (!issuedAt || !notAfter) return 'issuedAt and notAfter must be dates';
  return { serial, name: e.name, kind: e.kind, issuedAt, notAfter };
}

function revokedEntry(e: Record<string, unknown>): RevokedCert | string {
  const serial = typeof e.serial === 'string' ? e.serial.toLowerCase() : '';
  if (!SERIAL.test(serial)) return 'serial must be hex';
  if (typeof e.name !== 'string' || !e.name) return 'name must be a non-empty string';
  const revokedAt = date(e.revokedAt);
  if (!revokedAt) return 'revokedAt must be a date';
  return { serial, name: e.name, revokedAt };
}

/** Imports dir's issued.json and revoked.json, when present, into `lists`; null when there were none. */
export async function importLegacyLists(dir: string, lists: LegacyImporter): Promise<{ issued: number; revoked: number } | null> {
  const issuedFile = path.join(dir, 'issued.json');
  const revokedFile = path.join(dir, 'revoked.json');
  const files = [issuedFile, revokedFile].filter((f) => fs.existsSync(f));
  if (!files.length) return null;
  const issued = fs.existsSync(issuedFile) ? readList(issuedFile, issuedEntry) : [];
  const revoked = fs.existsSync(revokedFile) ? readList(revokedFile, revokedEntry) : [];
  const n = await lists.importRecords(issued, revoked);
  for (const f of files) fs.renameSync(f, `${f}.imported`);
  return n;
}
