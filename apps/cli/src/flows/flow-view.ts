// SPDX-License-Identifier: Apache-2.0
/** How a flow row of GET /v1/flows prints: protocols by name, ICMP as type/code, verdicts coloured. */
import { ENCRYPTED_CLASSES, PLAINTEXT_CLASSES } from '../../../../native/lib/abi';
import type { FlowView } from '../../../controller/src/control/flows/flow-aggregator';
import { ICMP_TYPES, ICMPV6_TYPES, protocolName } from '../../../controller/src/policy/protocols';
import type { ListView } from '../output/format';
import type { Cell } from '../output/table';

/** A row of GET /v1/flows: the controller's own FlowView. */
export type FlowRow = FlowView;

export { protocolName };
const isIcmp = (f: FlowRow) => f.protocol === 1 || f.protocol === 58;
const hasPorts = (f: FlowRow) => f.protocol === 6 || f.protocol === 17;

function icmpName(f: FlowRow): string | undefined {
  const table = f.protocol === 58 ? ICMPV6_TYPES : ICMP_TYPES;
  return Object.entries(table).find(([, t]) => t === f.icmpType)?.[0];
}

/** `10.0.0.1:443` for TCP/UDP, `[fd00::1]:443` for IPv6, the bare address for the rest (ICMP's fields are not ports). */
export function endpoint(addr: string, port: number, f: FlowRow): string {
  if (!hasPorts(f)) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** `tcp`, `udp`, `icmp 8/0 echo-request`; the echo identifier never shows as a port. */
export function protocolText(f: FlowRow): string {
  const p = protocolName(f.protocol);
  if (!isIcmp(f) || f.icmpType === null || f.icmpType === undefined) return p;
  const name = icmpName(f);
  return `${p} ${f.icmpType}/${f.icmpCode ?? 0}${name ? ` ${name}` : ''}`;
}

function verdictCell(f: FlowRow): Cell {
  const style = f.verdict === 'allow' ? 'green' : f.verdict === 'deny' ? 'red' : 'yellow';
  return { text: f.verdict, style };
}

const ENCRYPTED = new Set<string>(ENCRYPTED_CLASSES);
const IN_CLEAR = new Set<string>(PLAINTEXT_CLASSES);
function encryptionCell(f: FlowRow): Cell {
  const e = f.encryption ?? 'unknown';
  return ENCRYPTED.has(e) ? { text: e, style: 'green' } : IN_CLEAR.has(e) ? { text: e, style: 'yellow' } : { text: e, style: 'dim' };
}

export const FLOW_VIEW: ListView<FlowRow> = {
  columns: [
    { header: 'LAST SEEN', cell: (f) => f.lastSeen },
    { header: 'FIRST SEEN', cell: (f) => f.firstSeen, wide: true },
    { header: 'ENFORCER', cell: (f) => f.enforcer },
    { header: 'FROM', cell: (f) => endpoint(f.src, f.sport, f) },
    // the name the source resolved, beside the address (Hubble's style): `93.184.216.34:443 (api.vendor.example)`
    { header: 'TO', cell: (f) => endpoint(f.dst, f.dport, f) + (f.dstName ? ` (${f.dstName})` : '') },
    { header: 'PROTO', cell: (f) => protocolText(f) },
    { header: 'SEGMENTS', cell: (f) => `${f.srcSegment}->${f.dstSegment}` },
    { header: 'VERDICT', cell: verdictCell },
    { header: 'REASON', cell: (f) => (f.reason === 'none' ? '-' : f.reason) },
    { header: 'ENCRYPTION', cell: encryptionCell },
    { header: 'RULE', cell: (f) => String(f.ruleId), wide: true },
    { header: 'PACKETS', cell: (f) => String(f.packets) },
    { header: 'BYTES', cell: (f) => String(f.bytes) },
  ],
  name: (f) => `flow/${f.enforcer}/${protocolName(f.protocol)}/${endpoint(f.src, f.sport, f)}->${endpoint(f.dst, f.dport, f)}`,
};
