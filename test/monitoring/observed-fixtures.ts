// SPDX-License-Identifier: Apache-2.0
/** The site and flows of the observed-flow state tests (observed-*.api.test.ts): one rule used, one never. */
import type { WireFlowRecord } from '../../proto/cordon/v1/control';
import { SITE } from '../api/fixtures';

/** SITE with a second policy no flow uses: `report unused` lists it, and lists sensors-to-broker until a flow uses it. */
export const OBSERVED_SITE = [
  ...SITE,
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'sensors-to-cameras' }, spec: { from: ['sensors'], to: ['cameras'], allow: [{ protocol: 'tcp', ports: ['554'] }] } },
];

export interface CurrentBundle {
  identities: Record<string, number>;
  rules: { ruleId: number; policy: string; action: string; index: number }[];
}

/** MQTT over TLS to the broker, allowed by sensors-to-broker#allow[0], twice; and a telnet try the policy denies. */
export function brokerFlows(b: CurrentBundle, src: string): WireFlowRecord[] {
  const rule = b.rules.find((r) => r.policy === 'sensors-to-broker' && r.action === 'allow' && r.index === 0)!;
  const base = { src, dst: '10.10.9.1', protocol: 6, family: 4, srcIdentity: b.identities.sensors, dstIdentity: b.identities.broker, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 3, encryption: 'tls' };
  return [
    { ...base, sport: 41001, dport: 8883, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', ruleId: rule.ruleId, packetsFwd: 6, bytesFwd: 900, packetsRev: 4, bytesRev: 700 },
    { ...base, sport: 41002, dport: 8883, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', ruleId: rule.ruleId, packetsFwd: 3, bytesFwd: 300, packetsRev: 1, bytesRev: 100 },
    { ...base, sport: 41003, dport: 23, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', ruleId: 0, packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0, encryption: 'pending' },
  ];
}
