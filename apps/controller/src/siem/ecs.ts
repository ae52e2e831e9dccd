// SPDX-License-Identifier: Apache-2.0
/**
 * Security events as Elastic Common Schema documents (ECS 8.x field names), one
 * JSON object per line: what `GET /v1/events?format=ecs`, `cordon events` and the
 * syslog export carry. Cordon-specific detail stays under `cordon.*`.
 */
import { transportName } from '../monitoring/flow-record';
import { SecurityEvent, SEVERITY_NUMBER } from '../monitoring/events';

export const ECS_VERSION = '8.11.0';

const KIND: Record<SecurityEvent['type'], 'alert' | 'event'> = {
  anomaly: 'alert',
  unknown_device: 'alert',
  spoofing: 'alert',
  posture: 'event',
  drop: 'event',
  quarantine: 'event',
  audit: 'event',
  enrollment: 'event',
  revocation: 'event',
};

const CATEGORY: Record<SecurityEvent['type'], string[]> = {
  anomaly: ['network', 'intrusion_detection'],
  unknown_device: ['network', 'host'],
  spoofing: ['network', 'intrusion_detection'],
  posture: ['host', 'configuration'],
  drop: ['network'],
  quarantine: ['network', 'configuration'],
  audit: ['configuration'],
  enrollment: ['iam'],
  revocation: ['iam'],
};

const TYPE: Record<SecurityEvent['type'], string[]> = {
  anomaly: ['info'],
  unknown_device: ['info'],
  spoofing: ['denied', 'connection'],
  posture: ['info'],
  drop: ['denied', 'connection'],
  quarantine: ['change'],
  audit: ['change'],
  enrollment: ['creation'],
  revocation: ['deletion'],
};

/** ECS writes MACs upper-case, hyphen-separated. */
export function ecsMac(mac: string | undefined): string | undefined {
  return mac ? mac.toUpperCase().replace(/:/g, '-') : undefined;
}

function compact<T extends Record<string, unknown>>(o: T): T | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') out[k] = v;
  return Object.keys(out).length ? (out as T) : undefined;
}

export function toEcs(e: SecurityEvent): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    '@timestamp': e.at,
    ecs: { version: ECS_VERSION },
    message: e.message,
    event: compact({
      id: String(e.id),
      kind: KIND[e.type],
      category: CATEGORY[e.type],
      type: TYPE[e.type],
      action: e.action,
      outcome: e.outcome,
      severity: SEVERITY_NUMBER[e.severity],
      reason: e.reason,
      module: 'cordon',
      dataset: `cordon.${e.type}`,
      provider: 'cordon-controller',
    }),
    source: e.source ? compact({ ip: e.source.ip, port: e.source.port, mac: ecsMac(e.source.mac) }) : undefined,
    destination: e.destination ? compact({ ip: e.destination.ip, port: e.destination.port }) : undefined,
    network:
      e.protocol !== undefined
        ? compact({ transport: transportName(e.protocol), iana_number: String(e.protocol), packets: e.packets, bytes: e.bytes })
        : undefined,
    observer: compact({ name: e.enforcer, vendor: 'Cordon', product: 'cordon', type: 'firewall' }),
    rule: e.rule ? { name: e.rule } : undefined,
    user: e.actor ? { name: e.actor } : undefined,
    host: e.device ? { name: e.device } : undefined,
    labels: compact({ src_segment: e.source?.segment, dst_segment: e.destination?.segment }),
    cordon: compact({ type: e.type, device: e.device ?? undefined, severity: e.severity, ...(e.data ?? {}) }),
  };
  return compact(doc)!;
}

export function toEcsLine(e: SecurityEvent): string {
  return JSON.stringify(toEcs(e));
}
