// SPDX-License-Identifier: Apache-2.0
/**
 * What the control channel hands to the rest of the controller, as rxjs
 * Subjects behind Nest provider tokens. ControlModule is global, so any module
 * may inject them without importing it:
 *
 *   constructor(@Inject(FLOW_FEED) feed: FlowFeed, @Inject(DROP_EVENTS) events: DropEventFeed) {
 *     feed.subscribe(({ enforcer, flows, events, at }) => ...);
 *     events.subscribe((e) => ...);
 *   }
 *
 * - FLOW_FEED emits `{enforcer, flows, events, at}` once for every FlowBatch
 *   the controller accepted (authenticated, validated, aggregated into
 *   /metrics and /v1/flows), in arrival order. `flows` are the batch's records
 *   as @grpc/proto-loader decodes them (camelCase, verdict/reason as the enum
 *   names `VERDICT_DENY`, `DROP_REASON_POLICY`; counters are increments since
 *   the enforcer's previous batch); `events` are the batch's SecurityEvents,
 *   same encoding; `at` is when the controller received the batch.
 * - DROP_EVENTS emits each drop/audit event, decoded (short verdict and
 *   reason, segment names of the newest generation, the deciding policy).
 *
 * Both are hot and never replay: subscribe at bootstrap. A subscriber runs on
 * the gRPC receive path, so it must not block (queue and work elsewhere); an
 * exception in it is logged and does not reach the enforcer. They complete
 * when the controller stops. Treat them as read-only (do not call next()).
 */
import { Subject } from 'rxjs';
import { DerivedStateWriters } from './derived-state';
import type { FlowTuple, WireFlowRecord, WireSecurityEvent } from '../../../../proto/cordon/v1/control';

export const FLOW_FEED = Symbol('cordon.control.flowFeed');
export const DROP_EVENTS = Symbol('cordon.control.dropEvents');
/** MUD_ANNOUNCEMENTS emits each MUD URL an enforcer reported a device announcing (ReportMud), validated. */
export const MUD_ANNOUNCEMENTS = Symbol('cordon.control.mudAnnouncements');
/** DERIVED_STATE: where a FLOW_FEED subscriber that writes behind adds its durable() (derived-state.ts). */
export const DERIVED_STATE = Symbol('cordon.control.derivedState');

export interface MudAnnouncementItem {
  enforcer: string;
  url: string;
  mac: string | null;
  address: string | null;
  source: 'dhcpv4' | 'dhcpv6';
  interface: string;
  at: Date;
}

export interface FlowFeedItem {
  /** The enforcer's name (its certificate's CN). */
  enforcer: string;
  flows: WireFlowRecord[];
  events: WireSecurityEvent[];
  /** When the controller received the batch. */
  at: Date;
}

/**
 * A drop (or audit) event as an enforcer reported it, named with the
 * controller's segments and policies (the datapath's own is native/lib's
 * DropEvent). dport: the destination port, or ICMP type << 8 | code.
 */
export interface ReportedDropEvent extends FlowTuple {
  enforcer: string;
  /** When the datapath saw the packet. */
  at: Date;
  verdict: 'deny' | 'audit';
  /** policy, spoofed, malformed, fragment, no_connection, plaintext. */
  reason: string;
  srcSegment: string;
  dstSegment: string;
  ruleId: number;
  /** The Policy document of ruleId, null for the default deny. */
  policy: string | null;
  ifindex: number;
  /** Empty when unknown. */
  srcMac: string;
  /** The interface's name on the enforcer; empty when unknown. */
  interface?: string;
}

export type FlowFeed = Subject<FlowFeedItem>;
export type DropEventFeed = Subject<ReportedDropEvent>;
export type MudAnnouncementFeed = Subject<MudAnnouncementItem>;

/** The Subjects, one per controller (a provider; FLOW_FEED, DROP_EVENTS, MUD_ANNOUNCEMENTS and DERIVED_STATE are its fields). */
export class ControlFeeds {
  readonly flows: FlowFeed = new Subject<FlowFeedItem>();
  readonly events: DropEventFeed = new Subject<ReportedDropEvent>();
  readonly mud: MudAnnouncementFeed = new Subject<MudAnnouncementItem>();
  readonly derivedState = new DerivedStateWriters();
  complete(): void {
    this.flows.complete();
    this.events.complete();
    this.mud.complete();
  }
}
