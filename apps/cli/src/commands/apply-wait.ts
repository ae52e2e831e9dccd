// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon apply --wait`: after the change, waits until every connected
 * enforcer of the site reports the new generation (GET /v1/enforcers: the
 * shared store, so enforcers served by any controller count), and says which
 * did not when --timeout passes. Connected: its bundle stream open on a
 * controller of the site (the fleet status's `connected`); from a controller
 * that predates it, not revoked and a status within CONNECTED_WITHIN_MS
 * (enforcers report at least every 15 s, and at once after each generation).
 */
import type { Client } from '../context';

export const CONNECTED_WITHIN_MS = 45_000;

interface EnforcerRow {
  name: string;
  lastSeen: string | null;
  generation: number | null;
  revoked: boolean;
  /** The fleet status (absent from older controllers). */
  connected?: boolean;
}

export interface WaitResult {
  generation: number;
  enforced: string[];
  /** Connected enforcers not at the generation when the wait ended, with the one each enforces. */
  behind: { name: string; generation: number | null }[];
  timedOut: boolean;
  waitedMs: number;
}

export async function waitEnforced(client: Client, generation: number, timeoutMs: number, pollMs = 250, now = () => Date.now()): Promise<WaitResult> {
  const t0 = now();
  for (;;) {
    const { items } = await client.json<{ items: EnforcerRow[] }>('GET', '/v1/enforcers');
    const t = now();
    const live = items.filter((e) => (e.connected !== undefined ? e.connected : !e.revoked && e.lastSeen && t - Date.parse(e.lastSeen) <= CONNECTED_WITHIN_MS));
    const enforced = live.filter((e) => (e.generation ?? 0) >= generation).map((e) => e.name).sort();
    const behind = live.filter((e) => (e.generation ?? 0) < generation).map((e) => ({ name: e.name, generation: e.generation })).sort((a, b) => a.name.localeCompare(b.name));
    const timedOut = t - t0 >= timeoutMs;
    if (behind.length === 0 || timedOut) return { generation, enforced, behind, timedOut: behind.length > 0, waitedMs: t - t0 };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function formatWait(w: WaitResult): string {
  if (!w.timedOut) {
    return w.enforced.length
      ? `enforced by ${w.enforced.length} enforcer(s) in ${(w.waitedMs / 1000).toFixed(1)} s: ${w.enforced.join(', ')}\n`
      : 'no enforcer is connected: nothing to wait for\n';
  }
  const lines = [`not every connected enforcer enforces generation ${w.generation} after ${(w.waitedMs / 1000).toFixed(1)} s:`];
  for (const b of w.behind) lines.push(`  ${b.name}: generation ${b.generation ?? 'none'}`);
  if (w.enforced.length) lines.push(`enforced by: ${w.enforced.join(', ')}`);
  return lines.join('\n') + '\n';
}
