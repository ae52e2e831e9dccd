/**
 * The inner policy keys (model/generation/keys.ts) a rule compiles to.
 */
import { innerKey } from '../../../../model/generation/keys';
import { hasPorts, icmpType, isIcmp, parsePortSpec, protocolNumber } from '../policy/protocols';
import type { Rule } from '../policy/schema';
import { icmpTypeBlocks, portBlocks } from './ports';

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
