/** Protocol names, numbers and ICMP type names shared by validation, compiler and trace. */

export const PROTOCOL_NUMBER = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;
export type ProtocolName = keyof typeof PROTOCOL_NUMBER;
/** The name of an IP protocol number; `proto-N` for one without a name here. */
export function protocolName(n: number): string {
  for (const [name, num] of Object.entries(PROTOCOL_NUMBER)) if (num === n) return name;
  return `proto-${n}`;
}

export const ICMP_TYPES: Readonly<Record<string, number>> = {
  'echo-reply': 0,
  'destination-unreachable': 3,
  'source-quench': 4,
  redirect: 5,
  'echo-request': 8,
  'router-advertisement': 9,
  'router-solicitation': 10,
  'time-exceeded': 11,
  'parameter-problem': 12,
  'timestamp-request': 13,
  'timestamp-reply': 14,
};

export const ICMPV6_TYPES: Readonly<Record<string, number>> = {
  'destination-unreachable': 1,
  'packet-too-big': 2,
  'time-exceeded': 3,
  'parameter-problem': 4,
  'echo-request': 128,
  'echo-reply': 129,
  'multicast-listener-query': 130,
  'multicast-listener-report': 131,
  'multicast-listener-done': 132,
  'router-solicitation': 133,
  'router-advertisement': 134,
  'neighbor-solicitation': 135,
  'neighbor-advertisement': 136,
  redirect: 137,
};

/** IP protocol number of a rule's protocol; null for `any`. */
export function protocolNumber(p: string | number): number | null {
  if (typeof p === 'number') return p;
  if (p === 'any') return null;
  const n = (PROTOCOL_NUMBER as Record<string, number>)[p];
  if (n === undefined) throw new Error(`unknown protocol ${p}`);
  return n;
}

export function protocolLabel(n: number | null): string {
  if (n === null) return 'any';
  for (const [name, num] of Object.entries(PROTOCOL_NUMBER)) if (num === n) return name;
  return String(n);
}

/** True when the protocol carries ports the datapath matches (tcp, udp). */
export function hasPorts(n: number | null): boolean {
  return n === 6 || n === 17;
}

/** True for icmp and icmpv6, whose "port" is type << 8 | code. */
export function isIcmp(n: number | null): boolean {
  return n === 1 || n === 58;
}

/** Resolves an ICMP type name or number for a protocol; null when unknown. */
export function icmpType(protocol: number, t: string | number): number | null {
  if (typeof t === 'number') return Number.isInteger(t) && t >= 0 && t <= 255 ? t : null;
  if (/^\d{1,3}$/.test(t)) return icmpType(protocol, Number(t));
  const table = protocol === 58 ? ICMPV6_TYPES : ICMP_TYPES;
  return Object.prototype.hasOwnProperty.call(table, t) ? table[t] : null;
}

/** Parses a port spec (`8883`, `"5683-5684"`) into [lo, hi]; returns an error text instead when bad. */
export function parsePortSpec(v: unknown): [number, number] | string {
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
  if (typeof v === 'number') return ok(v) ? [v, v] : `port ${v} is out of range (0-65535)`;
  if (typeof v !== 'string') return 'a port is a number or a range "a-b"';
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
  if (!m) return `"${v}" is not a port or a range "a-b"`;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (!ok(lo) || !ok(hi)) return `port ${v} is out of range (0-65535)`;
  if (lo > hi) return `port range ${lo}-${hi} is reversed`;
  return [lo, hi];
}
