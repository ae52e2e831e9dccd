// SPDX-License-Identifier: Apache-2.0
/**
 * Which already observed flows a change would newly deny or newly allow: each
 * distinct (source, destination, protocol, port) the enforcers reported is
 * judged by the bundle before the change and by the would-be bundle, with the
 * tracer's own lookups (compiler/trace.ts BundleIndex, the datapath's two
 * longest-prefix matches). Flows the datapath dropped for another reason than
 * policy (spoofed, malformed, fragment, no connection, plaintext) are not the
 * policy's to change and are left out.
 */
import { parseAddress } from '../policy/net';
import { isIcmp, protocolLabel } from '../policy/protocols';
import type { BundleIndex, Verdict } from '../compiler/trace';

/** What flow-impact needs of a flow (a /v1/flows row has it all). */
export interface ObservedFlowRow {
  enforcer: string;
  src: string;
  dst: string;
  dport: number;
  protocol: number;
  verdict: string;
  reason: string;
  packets: number;
  lastSeen: string;
}

export interface FlowImpactEntry {
  src: string;
  dst: string;
  protocol: string;
  /** tcp/udp destination port; null for other protocols. */
  port: number | null;
  srcSegment: string;
  dstSegment: string;
  enforcer: string;
  before: Verdict;
  after: Verdict;
  /** The deciding policy before and after (null: the default deny). */
  policyBefore: string | null;
  policyAfter: string | null;
  packets: number;
  lastSeen: string;
}

export interface FlowImpact {
  /** Distinct observed flows judged. */
  checked: number;
  newlyDenied: FlowImpactEntry[];
  newlyAllowed: FlowImpactEntry[];
  /** True when a list was cut at `max` entries. */
  truncated: boolean;
}

/** Reasons under which the verdict was the policy's (allowed flows carry `none`). */
const POLICY_REASONS = new Set(['none', 'policy']);
const passes = (v: Verdict) => v === 'allow' || v === 'audit';

function judge(index: BundleIndex, src: string, dst: string, protocol: number, port: number | undefined) {
  const a = parseAddress(src);
  const b = parseAddress(dst);
  if (!a || !b) return null;
  const from = index.endpoint(a);
  const to = index.endpoint(b);
  const hit = index.lookupPolicy(from.identity, to.identity, protocol, port);
  let verdict: Verdict = !hit || hit.verdict === 2 ? 'deny' : hit.verdict === 3 ? 'audit' : 'allow';
  if (verdict === 'deny' && (index.lookupAddress(a)?.audit || index.lookupAddress(b)?.audit)) verdict = 'audit';
  return { verdict, ruleId: hit?.ruleId ?? 0, from, to };
}

/**
 * Compares `before` and `after` on every distinct observed flow. `policyOf`
 * names the policy of a rule id in each bundle. At most `max` entries a list,
 * most packets first.
 */
export function flowImpact(
  before: BundleIndex,
  after: BundleIndex,
  flows: readonly ObservedFlowRow[],
  max = 100,
): FlowImpact {
  const seen = new Map<string, FlowImpactEntry | null>();
  const policyOf = (index: BundleIndex, ruleId: number) => (ruleId ? (index.bundle.rules.find((r) => r.ruleId === ruleId)?.policy ?? null) : null);
  for (const f of flows) {
    if (!POLICY_REASONS.has(f.reason)) continue;
    // ICMP flows carry the echo id, not the type, in dport: judged by the type-less entries.
    const port = isIcmp(f.protocol) || (f.protocol !== 6 && f.protocol !== 17) ? undefined : f.dport;
    const key = `${f.src}|${f.dst}|${f.protocol}|${port ?? ''}`;
    const known = seen.get(key);
    if (known !== undefined) {
      if (known) {
        known.packets += f.packets;
        if (f.lastSeen > known.lastSeen) known.lastSeen = f.lastSeen;
      }
      continue;
    }
    const was = judge(before, f.src, f.dst, f.protocol, port);
    const now = judge(after, f.src, f.dst, f.protocol, port);
    if (!was || !now || passes(was.verdict) === passes(now.verdict)) {
      seen.set(key, null);
      continue;
    }
    seen.set(key, {
      src: f.src,
      dst: f.dst,
      protocol: protocolLabel(f.protocol),
      port: port ?? null,
      srcSegment: now.from.segment,
      dstSegment: now.to.segment,
      enforcer: f.enforcer,
      before: was.verdict,
      after: now.verdict,
      policyBefore: policyOf(before, was.ruleId),
      policyAfter: policyOf(after, now.ruleId),
      packets: f.packets,
      lastSeen: f.lastSeen,
    });
  }
  const changed = [...seen.values()].filter((e): e is FlowImpactEntry => e !== null).sort((x, y) => y.packets - x.packets);
  const newlyDenied = changed.filter((e) => !passes(e.after));
  const newlyAllowed = changed.filter((e) => passes(e.after));
  return {
    checked: seen.size,
    newlyDenied: newlyDenied.slice(0, max),
    newlyAllowed: newlyAllowed.slice(0, max),
    truncated: newlyDenied.length > max || newlyAllowed.length > max,
  };
}
