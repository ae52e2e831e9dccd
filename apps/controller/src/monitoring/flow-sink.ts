// SPDX-License-Identifier: Apache-2.0
/**
 * The monitoring input as a provider: `ingest(enforcer, flows, at)`. Monitoring
 * itself subscribes to the control channel's FLOW_FEED (control/feeds.ts);
 * FLOW_SINK is for other in-process sources (replays, other sensors). The same
 * batch array handed over twice is counted once (remembered weakly).
 */
import type { FlowRecord } from './flow-record';

export interface FlowSink {
  ingest(enforcer: string, flows: FlowRecord[], at: Date): void;
}

export const FLOW_SINK = Symbol('cordon.flowSink');
