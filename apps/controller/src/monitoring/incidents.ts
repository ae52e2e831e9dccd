// SPDX-License-Identifier: Apache-2.0
/**
 * Incidents, not alarms (issue 18): the anomalies of one device less than the
 * incident window apart are one incident, with every piece of evidence (the
 * scan and its targets, the new peers and ports, the bytes, the denied
 * attempts), one severity (the highest) and one action, the device's
 * segment's onAnomaly, taken once, when the incident opens. `cordon get
 * incidents` shows these; `cordon get anomalies` keeps the detail (each
 * anomaly names its incident). Bounded: the last MAX incidents are kept.
 */
import type { Anomaly, AnomalyKind, Severity } from './detector';
import { trimOldest } from '../../../common/src/lru';

const MAX = 10_000;
/** Pieces of evidence kept per kind in one incident. */
const EVIDENCE = 16;
const RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };

export interface Incident {
  id: number;
  device: string;
  segment: string;
  openedAt: string;
  updatedAt: string;
  severity: Severity;
  kinds: AnomalyKind[];
  /** Anomalies grouped in it. */
  anomalies: number;
  /** The segment's onAnomaly, taken once when the incident opened. */
  action: 'alert' | 'quarantine';
  /** Open while anomalies of the device keep coming within the window. */
  open: boolean;
  summary: string;
  evidence: {
    scans: Record<string, unknown>[];
    newPeers: string[];
    newPorts: string[];
    volume: Record<string, unknown>[];
    deniedBursts: Record<string, unknown>[];
  };
}

export class Incidents {
  private readonly byId = new Map<number, Incident>();
  private readonly openByDevice = new Map<string, { id: number; last: number }>();
  private nextId = 1;

  /** Whether this anomaly would open a new incident (then add() wants an id for it, when ids come from a store). */
  opens(a: Anomaly, windowMs: number): boolean {
    const cur = this.openByDevice.get(a.device);
    return !(cur && Date.parse(a.at) - cur.last < windowMs && this.byId.has(cur.id));
  }

  /**
   * Groups an anomaly; `opened` is true when it opened a new incident (the one time
   * its action is taken), with `id` if given (else the next of its own), and
   * `closed` names the device's previous incident if that closed meanwhile.
   */
  add(a: Anomaly, segment: string, action: 'alert' | 'quarantine', windowMs: number, id?: number): { incident: Incident; opened: boolean; closed?: Incident } {
    const t = Date.parse(a.at);
    const cur = this.openByDevice.get(a.device);
    let inc = cur && t - cur.last < windowMs ? this.byId.get(cur.id) : undefined;
    const opened = !inc;
    let closed: Incident | undefined;
    if (!inc) {
      if (cur) closed = this.close(cur.id);
      inc = {
        id: id ?? this.nextId++,
        device: a.device,
        segment,
        openedAt: a.at,
        updatedAt: a.at,
        severity: a.severity,
        kinds: [],
        anomalies: 0,
        action,
        open: true,
        summary: '',
        evidence: { scans: [], newPeers: [], newPorts: [], volume: [], deniedBursts: [] },
      };
      this.byId.set(inc.id, inc);
      trimOldest(this.byId, MAX);
    }
    this.openByDevice.set(a.device, { id: inc.id, last: Math.max(t, cur && !opened ? cur.last : 0) });
    if (t > Date.parse(inc.updatedAt)) inc.updatedAt = a.at;
    if (RANK[a.severity] > RANK[inc.severity]) inc.severity = a.severity;
    if (!inc.kinds.includes(a.kind)) inc.kinds.push(a.kind);
    inc.anomalies++;
    const e = a.evidence as Record<string, unknown> & { peer?: string; protocol?: string; port?: number };
    const keep = <T>(list: T[], v: T) => {
      if (list.length < EVIDENCE) list.push(v);
    };
    switch (a.kind) {
      case 'scan':
        keep(inc.evidence.scans, e);
        break;
      case 'new_peer':
        keep(inc.evidence.newPeers, `${e.peerName ? `${e.peerName} (${e.peer})` : e.peer} ${e.protocol}/${e.port} (${e.verdict})`);
        break;
      case 'new_port':
        keep(inc.evidence.newPorts, `${e.protocol}/${e.port} to ${e.peer} (${e.verdict})`);
        break;
      case 'volume':
        keep(inc.evidence.volume, e);
        break;
      case 'denied_burst':
        keep(inc.evidence.deniedBursts, e);
        break;
    }
    inc.summary = summarise(inc);
    return { incident: inc, opened, closed };
  }

  /** Goes on with incidents kept elsewhere (a store), as they were: the open ones keep grouping their device's anomalies. */
  restore(list: readonly Incident[]): void {
    for (const inc of list) {
      this.byId.set(inc.id, inc);
      if (inc.id >= this.nextId) this.nextId = inc.id + 1;
      const cur = this.openByDevice.get(inc.device);
      if (inc.open && (!cur || cur.id < inc.id)) this.openByDevice.set(inc.device, { id: inc.id, last: Date.parse(inc.updatedAt) });
    }
    trimOldest(this.byId, MAX);
  }

  /** Marks incidents whose device has been quiet for a window as closed; returns them. */
  expire(now: number, windowMs: number): Incident[] {
    const closed: Incident[] = [];
    for (const [device, cur] of this.openByDevice) {
      if (now - cur.last < windowMs) continue;
      const inc = this.close(cur.id);
      if (inc) closed.push(inc);
      this.openByDevice.delete(device);
    }
    return closed;
  }

  private close(id: number): Incident | undefined {
    const inc = this.byId.get(id);
    if (inc) inc.open = false;
    return inc;
  }

  get(id: number): Incident | undefined {
    return this.byId.get(id);
  }

  list(q: { device?: string; after?: number; limit?: number } = {}): Incident[] {
    const out: Incident[] = [];
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 5000));
    for (const inc of this.byId.values()) {
      if (inc.id <= (q.after ?? 0) || (q.device && inc.device !== q.device)) continue;
      out.push(inc);
      if (out.length >= limit) break;
    }
    return out;
  }
}

function summarise(inc: Incident): string {
  const parts: string[] = [];
  for (const s of inc.evidence.scans) parts.push(`${s.type} scan of ${s.distinctTargets} targets in ${s.windowSeconds}s`);
  if (inc.evidence.newPeers.length) parts.push(`${inc.evidence.newPeers.length} new peer(s)`);
  if (inc.evidence.newPorts.length) parts.push(`${inc.evidence.newPorts.length} new port(s)`);
  for (const v of inc.evidence.volume) parts.push(`${v.bytes} bytes in ${v.windowSeconds}s (usual ${v.usualBytes})`);
  for (const d of inc.evidence.deniedBursts) parts.push(`${d.deniedAttempts} denied attempts`);
  return parts.join('; ');
}
