// SPDX-License-Identifier: Apache-2.0
/**
 * Where the control channel hands flow records to monitoring. The control
 * module injects FLOW_SINK (optional) and calls, for every FlowBatch accepted:
 *
 *   this.flowSink?.ingest(peer.name, batch.flows, new Date());
 *
 * Monitoring also accepts the same batch twice without counting it twice (the
 * arrays are remembered weakly), so a temporary bridge and the real call can
 * coexist.
 */
import type { FlowRecord } from './flow-record';

export interface FlowSink {
  ingest(enforcer: string, flows: FlowRecord[], at: Date): void;
}

export const FLOW_SINK = Symbol('cordon.flowSink');
