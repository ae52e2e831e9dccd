/**
 * The entries of one identity pair, from the rules of every policy that
 * covers the pair. The datapath takes the single longest-prefix match of
 * (src identity, dst identity, protocol, port), so every precedence rule of
 * DESIGN.md is resolved here, before an entry is written:
 *   1. deny wins: an entry contained in (or equal to) an enforced deny block
 *      carries DENY with that deny's rule id;
 *   2. an entry contained in an audit-mode deny carries AUDIT;
 *   3. otherwise the allow stands;
 * and entries with the same key merge by enforce-deny > audit-deny > allow,
 * the lowest rule id breaking ties. Blocks are prefixes, so two blocks are
 * either nested or disjoint; every deny that covers a packet is therefore an
 * ancestor of (or equal to) the longest entry that matches it, and checking
 * each entry's ancestors (at most 18 keys) is enough.
 *
 * A pair depends on nothing but its rules, which is what lets the
 * incremental compiler recompile only the pairs a change touches.
 */
import { PolicyEntry, VERDICT } from '../../../../native/lib/abi';
import { decodeInnerKey, innerKey, portMask } from '../../../../model/generation/keys';

/** Above every inner key (< 2^30), so protocol * PROTO_STRIDE + key sorts by protocol first. */
const PROTO_STRIDE = 2 ** 30;

export const RANK_ALLOW = 0;
export const RANK_AUDIT_DENY = 1;
export const RANK_DENY = 2;

/** One rule of a policy, reduced to what a pair needs. */
export interface CompiledRule {
  ruleId: number;
  rank: number;
  encrypt: boolean;
  keys: readonly number[];
  /** An allow of a scheduled policy: it holds only while the schedule is open. */
  scheduled?: boolean;
}

interface Rec {
  rank: number;
  ruleId: number;
  encrypt: boolean;
  scheduled?: boolean;
}

/**
 * Whether r decides a key over old: the higher rank; among allows one that
 * always holds over a scheduled one (so a scheduled entry is one that no
 * unscheduled allow shares); then the lowest rule id.
 */
function wins(r: Rec, old: Rec): boolean {
  if (r.rank !== old.rank) return r.rank > old.rank;
  if (!!r.scheduled !== !!old.scheduled) return !r.scheduled;
  return r.ruleId < old.ruleId;
}

/** Sorted entries of the pair; the result does not depend on the order of `ruleSets`. */
export function compilePair(src: number, dst: number, ruleSets: Iterable<readonly CompiledRule[]>): PolicyEntry[] {
  const entries = new Map<number, Rec>();
  /** Per key, the scheduled allows there (the entry holds while any of their schedules is open). */
  const scheduledAt = new Map<number, number[]>();
  let hasDeny = false;
  for (const rules of ruleSets) {
    for (const r of rules) {
      if (r.rank > RANK_ALLOW) hasDeny = true;
      for (const k of r.keys) {
        const old = entries.get(k);
        if (!old || wins(r, old)) entries.set(k, r);
        if (r.scheduled) {
          const at = scheduledAt.get(k);
          if (at) at.push(r.ruleId);
          else scheduledAt.set(k, [r.ruleId]);
        }
      }
    }
  }
  // compareInnerKeys order, as plain numbers: (protocol, key), any-protocol (key 0) first.
  const order = new Float64Array(entries.size);
  let n = 0;
  for (const k of entries.keys()) order[n++] = k === 0 ? -1 : (Math.floor(k / 65536) % 256) * PROTO_STRIDE + k;
  order.sort();
  const out: PolicyEntry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = order[i] < 0 ? 0 : order[i] % PROTO_STRIDE;
    let rec = entries.get(k)!;
    if (hasDeny && rec.rank < RANK_DENY) rec = strongestCover(entries, k, rec);
    const port = k % 65536;
    const rest = (k - port) / 65536;
    const plen = 64 + Math.floor(rest / 256);
    const proto = rest % 256;
    const e: PolicyEntry = {
      srcIdentity: src,
      dstIdentity: dst,
      protocol: plen === 64 ? null : proto,
      verdict: rec.rank === RANK_DENY ? VERDICT.DENY : rec.rank === RANK_AUDIT_DENY ? VERDICT.AUDIT : VERDICT.ALLOW,
      ruleId: rec.ruleId,
    };
    if (plen > 72) {
      e.port = port;
      e.portPrefixLen = plen - 80;
    }
    if (rec.rank === RANK_ALLOW && rec.encrypt) e.encryptionRequired = true;
    if (rec.rank === RANK_ALLOW && rec.scheduled) e.scheduleRules = [...new Set(scheduledAt.get(k))].sort((a, b) => a - b);
    out[i] = e;
  }
  return out;
}

/**
 * The record that decides packets matching key k: the strongest deny among k's
 * ancestors (the most specific one among equals), or k's own record.
 */
function strongestCover(entries: Map<number, Rec>, k: number, own: Rec): Rec {
  const { plen, proto, port } = decodeInnerKey(k);
  let best = own;
  const consider = (key: number) => {
    const r = entries.get(key);
    if (r && r.rank > best.rank) best = r;
  };
  // From the most specific ancestor up, so that among equal ranks the nearest wins.
  if (plen > 80) for (let n = plen - 81; n >= 1; n--) consider(innerKey(80 + n, proto, port & portMask(n)));
  if (plen > 72) consider(innerKey(72, proto, 0));
  if (plen > 64) consider(innerKey(64, 0, 0));
  return best;
}
