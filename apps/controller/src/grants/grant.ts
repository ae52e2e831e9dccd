// SPDX-License-Identifier: Apache-2.0
/**
 * Temporary access (`cordon grant`): a Policy with one one-off window in UTC
 * from now for the duration asked, labelled as a grant with who made it and
 * why. What the request may say, the document it becomes, and how a stored
 * grant reads back (GrantView). The service (grants.service.ts) stores,
 * lists, revokes and expires them.
 */
import { parseDuration } from '../../../common/src/duration';
import { Problem } from '../http/problem';
import { isIcmp, protocolNumber } from '../policy/protocols';
import type { Policy, Rule } from '../policy/schema';
import { parseSchedule } from '../../../../model/schedule/parse';
import { scheduleState } from '../../../../model/schedule/state';

export const GRANT_LABEL = 'cordon.dev/grant';
export const GRANT_REASON_LABEL = 'cordon.dev/reason';
export const GRANT_BY_LABEL = 'cordon.dev/granted-by';
/** Shortest and longest grant. */
export const GRANT_MIN_MS = 10_000;
export const GRANT_MAX_MS = 30 * 86_400_000;

export interface GrantRequest {
  from: string;
  to: string;
  protocol: string | number;
  port?: number;
  /** Duration: 30m, 2h, 7d. */
  durationMs: number;
  reason: string;
  name?: string;
}

export interface GrantView {
  name: string;
  from: string;
  to: string;
  protocol: string | number;
  port: number | null;
  start: string;
  end: string;
  reason: string;
  grantedBy: string;
  /** Open now (the window has started and not ended). */
  open: boolean;
}

const bad = (detail: string) => new Problem(400, 'Bad Request', detail);

/** The body of POST /v1/grants, checked; 400 naming the field otherwise. */
export function parseGrantRequest(b: Record<string, unknown> | undefined): GrantRequest {
  const body = b ?? {};
  for (const f of ['from', 'to', 'reason'] as const) {
    if (typeof body[f] !== 'string' || !(body[f] as string).trim()) throw bad(`a grant needs ${f} (${f === 'reason' ? 'why, for the audit log: "ticket 4711"' : 'a device or a segment'})`);
  }
  const protocol = body.protocol ?? 'tcp';
  const proto = typeof protocol === 'string' || typeof protocol === 'number' ? protocolNumber(protocol as string | number) : undefined;
  if (proto === undefined || (typeof protocol === 'string' && protocol === 'any')) throw bad(`protocol is tcp, udp, icmp, icmpv6 or an IP protocol number, got ${JSON.stringify(protocol)}`);
  let port: number | undefined;
  if (body.port !== undefined && body.port !== null && body.port !== '') {
    port = Number(body.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port must be 1-65535, got ${JSON.stringify(body.port)}`);
    if (proto !== 6 && proto !== 17) throw bad(`port applies only to tcp and udp, not ${String(protocol)}`);
  }
  if (proto !== null && isIcmp(proto) && port !== undefined) throw bad('icmp has no port');
  const text = typeof body.for === 'string' ? body.for : typeof body.duration === 'string' ? body.duration : '';
  const durationMs = parseDuration(text);
  if (durationMs === null || durationMs < GRANT_MIN_MS || durationMs > GRANT_MAX_MS) {
    throw bad(`for is how long the grant lasts, 10s to 30d (30m, 2h, 1d), got ${JSON.stringify(body.for ?? body.duration ?? null)}`);
  }
  const reason = (body.reason as string).trim();
  if (reason.length > 1000) throw bad('reason is at most 1000 characters');
  const name = body.name === undefined ? undefined : String(body.name);
  return { from: (body.from as string).trim(), to: (body.to as string).trim(), protocol: protocol as string | number, port, durationMs, reason, name };
}

/** "2026-12-02T15:04:05" of an instant, in UTC: a one-off window's wall time. */
function utcWall(t: number): string {
  return new Date(t).toISOString().slice(0, 19);
}

/** A label value: at most 63 characters. */
function labelValue(s: string): string {
  return s.length <= 63 ? s : `${s.slice(0, 62)}…`;
}

/** The Policy a grant is, with from/to resolved to segments; its window starts at `now` (to the second). */
export function grantPolicy(r: GrantRequest, segments: { from: string; to: string }, actor: string, now: number, name: string): Policy {
  const start = Math.floor(now / 1000) * 1000;
  const end = Math.ceil((start + r.durationMs) / 1000) * 1000;
  const rule = r.port !== undefined ? { protocol: r.protocol, ports: [r.port] } : { protocol: r.protocol };
  return {
    apiVersion: 'cordon/v1',
    kind: 'Policy',
    metadata: { name, labels: { [GRANT_LABEL]: 'true', [GRANT_REASON_LABEL]: labelValue(r.reason), [GRANT_BY_LABEL]: labelValue(actor) } },
    spec: {
      from: [segments.from],
      to: [segments.to],
      allow: [rule as Rule],
      mode: 'enforce',
      schedule: { timezone: 'UTC', windows: [`${utcWall(start)}/${utcWall(end)}`] },
    },
  };
}

/** A stored Policy read as a grant; null when it is not one. */
export function grantView(p: { name: string; labels?: Record<string, string>; spec: unknown }, now: number): GrantView | null {
  if (p.labels?.[GRANT_LABEL] !== 'true') return null;
  const spec = p.spec as Policy['spec'];
  const window = spec.schedule?.windows?.[0];
  const parsed = spec.schedule ? parseSchedule(spec.schedule) : null;
  if (!window || !parsed || 'errors' in parsed) return null;
  const w = parsed.windows[0];
  if (w.kind !== 'once') return null;
  const rule = spec.allow?.[0];
  return {
    name: p.name,
    from: spec.from[0],
    to: typeof spec.to[0] === 'string' ? spec.to[0] : spec.to[0].fqdn,
    protocol: rule?.protocol ?? 'any',
    port: rule?.ports?.[0] !== undefined ? Number(rule.ports[0]) : null,
    start: new Date(w.start).toISOString(),
    end: new Date(w.end).toISOString(),
    reason: p.labels[GRANT_REASON_LABEL] ?? '',
    grantedBy: p.labels[GRANT_BY_LABEL] ?? '',
    open: scheduleState(spec.schedule!, now).open,
  };
}
