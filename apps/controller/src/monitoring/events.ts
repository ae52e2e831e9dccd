// SPDX-License-Identifier: Apache-2.0
/**
 * The security event stream: what monitoring concludes (unknown devices,
 * anomalies, posture, quarantine moves, summarised drops, spoofing) and what
 * the audit log records, in one shape that siem/ecs.ts turns into Elastic
 * Common Schema. Kept in a bounded ring in memory and, by MonitoringStore, in
 * the database, so `GET /v1/events` pages and `cordon events --follow` tails it.
 */
import { Subject } from 'rxjs';

export type SecurityEventType =
  | 'drop'
  | 'spoofing'
  | 'unknown_device'
  | 'anomaly'
  | 'quarantine'
  | 'posture'
  | 'audit'
  | 'enrollment'
  | 'revocation';

export type EventSeverity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export interface SecurityEvent {
  /** Increasing, per controller database. 0 until stored. */
  id: number;
  at: string;
  type: SecurityEventType;
  /** ECS event.action, e.g. `anomaly-scan`, `device-quarantined`, `flow-dropped`. */
  action: string;
  severity: EventSeverity;
  outcome?: 'success' | 'failure' | 'unknown';
  message: string;
  device?: string | null;
  source?: { ip?: string; port?: number; mac?: string; segment?: string };
  destination?: { ip?: string; port?: number; segment?: string };
  protocol?: number;
  enforcer?: string;
  rule?: string;
  reason?: string;
  packets?: number;
  bytes?: number;
  actor?: string;
  data?: Record<string, unknown>;
}

export const SEVERITY_NUMBER: Record<EventSeverity, number> = { info: 1, low: 3, medium: 5, high: 7, critical: 9 };

/** In-process fan-out of events once they have an id; the last `max` kept in a ring. */
export class EventBus {
  readonly events$ = new Subject<SecurityEvent>();
  // A fixed ring, not an array spliced at its head: a full array made every publish O(max).
  private readonly ring: (SecurityEvent | undefined)[];
  private head = 0;
  private size = 0;
  constructor(private readonly max = 10_000) {
    this.ring = new Array(max);
  }

  publish(e: SecurityEvent): void {
    this.ring[(this.head + this.size) % this.max] = e;
    if (this.size < this.max) this.size++;
    else this.head = (this.head + 1) % this.max;
    this.events$.next(e);
  }

  recent(afterId = 0, limit = 1000, filter?: (e: SecurityEvent) => boolean): SecurityEvent[] {
    const out: SecurityEvent[] = [];
    for (let i = 0; i < this.size; i++) {
      const e = this.ring[(this.head + i) % this.max]!;
      if (e.id <= afterId) continue;
      if (filter && !filter(e)) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }
}
