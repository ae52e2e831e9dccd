// SPDX-License-Identifier: Apache-2.0
/**
 * Discovery: sources no Device claims are listed as unknown devices (from flow
 * records and from drop events, which carry the MAC), each an event when new,
 * at most UNKNOWN_EVENTS_PER_TICK a tick; the rest of a storm is one summary.
 *
 * The table is the site's (issue 14): loaded from the store at start, and
 * every STATE_FLUSH_MS (and at shutdown) this controller's deltas go to the
 * store in one transaction, which hands back every row any controller changed
 * since the last flush (on a shared PostgreSQL; an embedded store has this one
 * writer, so it is read at start only). Reads stay in memory (synchronous, as
 * the API and the event path want them, and cheaper than a query per read),
 * at most one flush interval behind the other controllers; an unknown device
 * another controller already listed is not announced again here once merged.
 */
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import type { DerivedStateWriters } from '../control/derived-state';
import { DERIVED_STATE, type ReportedDropEvent } from '../control/feeds';
import { LOGGER } from '../di-tokens';
import { UnknownDeviceRepository } from '../store/unknown-devices.repository';
import { STATE_FLUSH_MS, STATE_PULL_OVERLAP_MS, WriteBehind } from '../store/write-behind';
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

/** As UnknownDevices is built by default: the store keeps no more than the memory does. */
const MAX_UNKNOWN = 10_000;
const MAX_TARGETS = 32;

@Injectable()
export class DiscoveryService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly unknown = new UnknownDevices(MAX_UNKNOWN, MAX_TARGETS);
  private unknownBudget = UNKNOWN_EVENTS_PER_TICK;
  private unknownSuppressed: string[] = [];
  private unknownSuppressedCount = 0;
  private readonly writeBehind: WriteBehind;
  /** The store's time at the last flush that read back; null until the first (a start reads every row). */
  private pulledAt: Date | null = null;

  constructor(
    @Inject(SiteView) private readonly site: SiteView,
    @Inject(SecurityEvents) private readonly events: SecurityEvents,
    @Inject(UnknownDeviceRepository) private readonly stored: UnknownDeviceRepository,
    @Inject(LOGGER) private readonly log: Logger,
    @Optional() @Inject(DERIVED_STATE) derived?: DerivedStateWriters,
  ) {
    this.writeBehind = new WriteBehind(() => this.flushOnce(), STATE_FLUSH_MS, (err) => this.log.warn({ err: err.message }, 'unknown devices not written to the store; kept for the next flush'));
    derived?.add(() => this.writeBehind.durable());
    // An address a Device now claims is no longer unknown.
    site.onView((view) => {
      for (const u of this.unknown.list()) if (view.deviceOf(u.address)) this.unknown.drop(u.address);
    });
  }

  /** The site's unknown devices from the store, then a flush every STATE_FLUSH_MS. */
  async onApplicationBootstrap(): Promise<void> {
    await this.flush();
    this.writeBehind.start();
  }

  /** The last deltas go to the store before it closes. */
  async onModuleDestroy(): Promise<void> {
    await this.writeBehind.stop();
  }

  /** Writes this controller's deltas and merges what the site's controllers changed since the last flush. */
  flush(): Promise<void> {
    return this.writeBehind.flush();
  }

  private async flushOnce(): Promise<void> {
    const taken = this.unknown.takeChanges();
    const since = this.pulledAt && new Date(this.pulledAt.getTime() - STATE_PULL_OVERLAP_MS);
    let result;
    try {
      result = await this.stored.sync({ ...taken, pull: this.pulledAt === null || this.stored.shared, since, max: MAX_UNKNOWN, maxTargets: MAX_TARGETS });
    } catch (err) {
      this.unknown.restoreChanges(taken);
      throw err;
    }
    const view = this.site.view;
    this.unknown.merge(result.rows.filter((r) => !view.deviceOf(r.address)));
    this.pulledAt = result.at;
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
