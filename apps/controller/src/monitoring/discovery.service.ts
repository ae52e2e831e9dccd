// SPDX-License-Identifier: Apache-2.0
/**
 * Discovery: sources no Device claims are listed as unknown devices (from flow
 * records and from drop events, which carry the MAC), each an event when new,
 * at most UNKNOWN_EVENTS_PER_TICK a tick; the rest of a storm is one summary.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { ReportedDropEvent } from '../control/feeds';
import { UnknownDevices } from './discovery';
import { SecurityEvent } from './events';
import type { FlowRecord } from './flow-record';
import { SecurityEvents } from './security-events.service';
import { SiteView } from './site-view.service';

/**
 * unknown_device events per tick at most; the rest of a storm (a scan from
 * spoofed sources, an unknown table churning) is one summary event at the next
 * tick, so the event store and the SIEM see a bounded rate whatever the sources.
 */
export const UNKNOWN_EVENTS_PER_TICK = 500;

@Injectable()
export class DiscoveryService {
  readonly unknown = new UnknownDevices();
  private unknownBudget = UNKNOWN_EVENTS_PER_TICK;
  private unknownSuppressed: string[] = [];
  private unknownSuppressedCount = 0;

  constructor(
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(SecurityEvents) private readonly events: SecurityEvents,
  ) {
    // An address a Device now claims is no longer unknown.
    site.onView((view) => {
      for (const u of this.unknown.list()) if (view.deviceOf(u.address)) this.unknown.drop(u.address);
    });
  }

  /** A flow from a source no Device claims. */
  observe(enforcer: string, r: FlowRecord, segment: string, t: number): void {
    if (this.unknown.observe(enforcer, r, segment, t)) void this.emitUnknown(r.src);
  }

  /**
   * A drop event shows the MAC of a source that no Device binds (flow records
   * carry it only once the enforcer has seen such an event, or for bound MACs):
   * an unknown source gets its MAC and interface, and is listed even before the
   * flow records of its attempts arrive. Counters stay the flow records' job.
   */
  observeDropEvent(e: ReportedDropEvent): void {
    const view = this.site.view;
    if (e.srcIdentity === 2 /* host */ || view.deviceOf(e.src)) return;
    const fresh = this.unknown.observeEvent(e.enforcer, {
      src: e.src,
      dst: e.dst,
      dport: e.dport,
      protocol: e.protocol,
      verdict: e.verdict,
      mac: e.srcMac || undefined,
      ifindex: e.ifindex,
      interface: e.interface || undefined,
      segment: e.srcSegment || view.identityName(e.srcIdentity),
      at: e.at.getTime(),
    });
    if (fresh) void this.emitUnknown(e.src);
  }

  private emitUnknown(address: string): Promise<SecurityEvent> | undefined {
    if (this.unknownBudget <= 0) {
      this.unknownSuppressedCount++;
      if (this.unknownSuppressed.length < 10) this.unknownSuppressed.push(address);
      return;
    }
    const u = this.unknown.get(address);
    if (!u) return;
    this.unknownBudget--;
    return this.events.emit({
      at: u.firstSeen,
      type: 'unknown_device',
      action: 'unknown-device-seen',
      severity: 'medium',
      message: `unknown device ${u.address} on ${u.enforcer} (segment ${u.segment}) tried ${u.tried[0] ?? 'nothing yet'}`,
      device: null,
      source: { ip: u.address, mac: u.mac ?? undefined, segment: u.segment },
      enforcer: u.enforcer,
      data: { unknown: { ...u } },
    });
  }

  /** One event for the unknown devices beyond this tick's budget; a fresh budget. */
  async flushSummary(): Promise<void> {
    this.unknownBudget = UNKNOWN_EVENTS_PER_TICK;
    const n = this.unknownSuppressedCount;
    if (n === 0) return;
    const examples = this.unknownSuppressed;
    this.unknownSuppressedCount = 0;
    this.unknownSuppressed = [];
    await this.events.emit({
      at: new Date().toISOString(),
      type: 'unknown_device',
      action: 'unknown-devices-seen-summary',
      severity: 'medium',
      message: `${n} more unknown device(s) seen beyond ${UNKNOWN_EVENTS_PER_TICK} events per ${this.site.settings.tickMs} ms (e.g. ${examples.join(', ')}); cordon get devices --unknown lists them`,
      device: null,
      data: { unknownDevices: n, examples },
    });
  }
}
