// SPDX-License-Identifier: Apache-2.0
/** Flow batches for the monitoring-state tests (state-*.api.test.ts), sent as an enforcer sends them. */
import * as grpc from '@grpc/grpc-js';
import type { FlowAck, FlowBatch, WireFlowRecord } from '../../proto/cordon/v1/control';
import type { RawControlClient } from '../../proto/cordon/v1/client';

let seq = 0;
export function reportFlows(c: RawControlClient, enforcer: string, flows: WireFlowRecord[]): Promise<FlowAck> {
  return new Promise((resolve, reject) => {
    const s = c.ReportFlows(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
    const b: FlowBatch = { enforcer, seq: ++seq, generation: 1, windowStart: Date.now() - 1000, windowEnd: Date.now(), droppedBatches: 0, pairs: [], flows, events: [] };
    s.write(b);
    s.end();
  });
}

/** An unclaimed sensor: MQTT in clear to the broker, TLS to it, and a denied try at telnet. */
export function unknownSensorFlows(ids: Record<string, number>, src: string): WireFlowRecord[] {
  const base = { src, dst: '10.10.9.1', protocol: 6, family: 4, srcIdentity: ids.sensors, dstIdentity: ids.broker, ruleId: 0, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 3 };
  return [
    { ...base, sport: 40001, dport: 1883, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', packetsFwd: 4, bytesFwd: 400, packetsRev: 2, bytesRev: 100, encryption: 'mqtt' },
    { ...base, sport: 40002, dport: 8883, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', packetsFwd: 5, bytesFwd: 1000, packetsRev: 5, bytesRev: 1000, encryption: 'tls' },
    { ...base, sport: 40003, dport: 23, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0, encryption: 'pending' },
  ];
}

/** Camera cam-07 (10.10.2.7) streaming RTSP to each of `peers` (addresses in the cameras segment), one flow each, seen now. */
export function cameraFlows(ids: Record<string, number>, peers: string[]): WireFlowRecord[] {
  return peers.map((dst, i) => ({
    src: '10.10.2.7', dst, sport: 41000 + i, dport: 554, protocol: 6, family: 4, srcIdentity: ids.cameras, dstIdentity: ids.cameras, ruleId: 0,
    verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', packetsFwd: 20, bytesFwd: 20_000, packetsRev: 10, bytesRev: 800, firstSeen: Date.now() - 500, lastSeen: Date.now(), ifindex: 3, encryption: 'pending',
  }));
}
