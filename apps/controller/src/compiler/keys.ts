/**
 * Policy keys inside one identity pair, as one number:
 * ((plen - 64) * 256 + proto) * 65536 + port, where plen is 64 (any protocol),
 * 72 (protocol, every port) or 80 + n (the first n bits of the 16-bit port;
 * ICMP: type << 8 | code). These are the datapath's policy keys minus the pair.
 */
import type { PolicyEntry } from '../../../../native/lib/abi';
import { hasPorts, icmpType, isIcmp, parsePortSpec, protocolNumber } from '../policy/protocols';
import type { Rule } from '../policy/schema';
import { icmpTypeBlocks, portBlocks } from './ports';

export function innerKey(plen: number, proto: number, port: number): number {
  return ((plen - 64) * 256 + proto) * 65536 + port;
}

export function portMask(n: number): number {
  return n === 0 ? 0 : (0xffff << (16 - n)) & 0xffff;
}

/** Inner key of a PolicyEntry (normalised: port prefix 0 means every port). */
export function entryInnerKey(e: Pick<PolicyEntry, 'protocol' | 'port' | 'portPrefixLen'>): number {
  if (e.protocol === null) return 0;
  const n = e.portPrefixLen ?? 0;
  if (n === 0) return innerKey(72, e.protocol, 0);
  return innerKey(80 + n, e.protocol, (e.port ?? 0) & portMask(n));
}

export function decodeInnerKey(k: number): { plen: number; proto: number; port: number } {
  const port = k % 65536;
  const rest = (k - port) / 65536;
  return { plen: 64 + Math.floor(rest / 256), proto: rest % 256, port };
}

/** Order of entries inside a pair: any-protocol first, then by protocol, prefix length and port. */
export function compareInnerKeys(a: number, b: number): number {
  return protoOf(a) - protoOf(b) || a - b;
}

function protoOf(k: number): number {
  return k === 0 ? -1 : Math.floor(k / 65536) % 256;
}

/** The keys of a rule's blocks (identical for every identity pair it applies to). */
export function ruleKeys(rule: Rule): number[] {
  const proto = protocolNumber(rule.protocol);
  if (proto === null) return [innerKey(64, 0, 0)];
  let blocks: { value: number; prefixLen: number }[] | null = null;
  if (rule.ports && hasPorts(proto)) {
    blocks = portBlocks(rule.ports.map((p) => parsePortSpec(p) as [number, number]));
  } else if (rule.types && isIcmp(proto)) {
    blocks = icmpTypeBlocks(rule.types.map((t) => icmpType(proto, t) as number));
  }
  if (!blocks) return [innerKey(72, proto, 0)];
  return blocks.map((b) => (b.prefixLen === 0 ? innerKey(72, proto, 0) : innerKey(80 + b.prefixLen, proto, b.value)));
}
