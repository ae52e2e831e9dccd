// SPDX-License-Identifier: Apache-2.0
/**
 * One enforcer's fleet status (DESIGN.md "Several controllers", issue 14): its
 * stored record with where it is connected, the generation it enforces against
 * the site's current one, and the figures it last reported (version,
 * certificate expiry, the fullest datapath map). Pure: fleet.service.ts reads
 * the store, GET /v1/enforcers and the per-enforcer metrics show the result.
 */
import type { EnforcerRecord } from '../store/types';

export interface MapFillView {
  /** The fullest map (by share of its capacity). */
  map: string;
  entries: number;
  max: number;
  /** entries / max, in percent, one decimal. */
  percent: number;
}

export interface FleetRow extends EnforcerRecord {
  /** Its bundle stream is open on a controller of the site (never when revoked). */
  connected: boolean;
  /** The id of the controller serving that stream (`--id`), null when not connected. */
  controller: string | null;
  /** The site's current generation. */
  currentGeneration: number;
  /** It enforces the site's current generation (or a newer one this controller has not read yet). */
  inSync: boolean;
  /** Its software version, as it last reported. */
  version: string | null;
  /** When its certificate expires (notAfter), as it last reported; ISO time. */
  certExpiresAt: string | null;
  /** Its fullest datapath map; null before its first status. */
  mapFill: MapFillView | null;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN);

/** The fullest map of a reported `mapFill` (proto MapFill by map name); null when none has a capacity. */
export function fullestMap(mapFill: unknown): MapFillView | null {
  if (!mapFill || typeof mapFill !== 'object') return null;
  let best: MapFillView | null = null;
  for (const [map, f] of Object.entries(mapFill as Record<string, unknown>)) {
    const entries = num((f as { entries?: unknown } | null)?.entries);
    const max = num((f as { max?: unknown } | null)?.max);
    if (!(max > 0) || !(entries >= 0)) continue;
    const percent = Math.round((entries / max) * 1000) / 10;
    if (!best || entries / max > best.entries / best.max) best = { map, entries, max, percent };
  }
  return best;
}

export function fleetRow(e: EnforcerRecord, controller: string | null, currentGeneration: number): FleetRow {
  const s = e.status ?? {};
  const expires = num(s.certificateExpiresAt);
  const connectedTo = e.revoked ? null : controller;
  return {
    ...e,
    connected: connectedTo !== null,
    controller: connectedTo,
    currentGeneration,
    inSync: (e.generation ?? 0) >= currentGeneration,
    version: typeof s.version === 'string' && s.version ? s.version : null,
    certExpiresAt: expires > 0 ? new Date(expires).toISOString() : null,
    mapFill: fullestMap(s.mapFill),
  };
}
