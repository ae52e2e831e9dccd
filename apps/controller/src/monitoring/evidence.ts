// SPDX-License-Identifier: Apache-2.0
/** One line saying what an anomaly saw, for its event's message and its quarantine's reason. */
import type { Anomaly } from './detector';

export function summariseEvidence(a: Anomaly): string {
  const e = a.evidence as Record<string, any>;
  switch (a.kind) {
    case 'new_peer':
    case 'new_port':
      return `${e.peerName ? `${e.peerName} (${e.peer})` : e.peer} ${e.protocol}/${e.port} not in baseline`;
    case 'volume':
      return `${e.bytes} bytes in ${e.windowSeconds}s (usual ${e.usualBytes}, threshold ${e.thresholdBytes})`;
    case 'scan':
      return e.type === 'distributed'
        ? `distributed scan of ${e.distinctTargets} targets in ${e.windowSeconds}s by ${(e.devices as string[]).length} devices of ${e.segment}`
        : `${e.type} scan: ${e.distinctDestinations} destinations / ${e.distinctTargets} targets in ${e.windowSeconds}s`;
    case 'denied_burst':
      return `${e.deniedAttempts} denied attempts (${e.deniedPackets} packets) to ${e.distinctTargets} target(s) in ${e.windowSeconds}s`;
  }
}
