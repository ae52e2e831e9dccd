// SPDX-License-Identifier: Apache-2.0
/**
 * The segment × segment matrix of what the compiled bundle allows: its policy
 * entries (source identity, destination identity, protocol, port prefix,
 * verdict, encryption) read back into ports and protocols per pair.
 */
import { protocolName } from '../../controller/src/policy/protocols';

export interface BundleEntry {
  srcIdentity: number;
  dstIdentity: number;
  protocol: number | null;
  port?: number;
  portPrefixLen?: number;
  verdict: number;
  ruleId: number;
  encryptionRequired?: boolean;
}
export interface BundleLike {
  generation: number;
  identities: Record<string, number>;
  policy: BundleEntry[];
  rules: { ruleId: number; policy: string; action: string; index: number; mode: string }[];
}

export interface MatrixCell {
  /** "tcp/8883", "udp/5000-5007", "icmp type 8", "any". */
  what: string;
  verdict: 'allow' | 'deny' | 'audit';
  encryptionRequired: boolean;
  policy: string | null;
}


export function describeEntry(e: BundleEntry): string {
  if (e.protocol === null) return 'any';
  const p = protocolName(e.protocol);
  const len = e.portPrefixLen ?? 0;
  if (len === 0 || e.port === undefined) return p;
  if (e.protocol === 1 || e.protocol === 58) {
    const type = e.port >> 8;
    return len >= 16 ? `${p} type ${type} code ${e.port & 0xff}` : `${p} type ${type}`;
  }
  const start = e.port & ((0xffff << (16 - len)) & 0xffff);
  const end = start + (1 << (16 - len)) - 1;
  return start === end ? `${p}/${start}` : `${p}/${start}-${end}`;
}

/** Cells keyed `src|dst` (segment names); ranges a policy split into prefixes stay separate entries. */
export function buildMatrix(b: BundleLike): { segments: string[]; cells: Map<string, MatrixCell[]> } {
  const names = new Map<number, string>();
  for (const [n, id] of Object.entries(b.identities)) names.set(id, n);
  const policyOf = new Map(b.rules.map((r) => [r.ruleId, r.policy]));
  const cells = new Map<string, MatrixCell[]>();
  for (const e of b.policy) {
    const src = names.get(e.srcIdentity) ?? String(e.srcIdentity);
    const dst = names.get(e.dstIdentity) ?? String(e.dstIdentity);
    const verdict = e.verdict === 1 ? 'allow' : e.verdict === 3 ? 'audit' : 'deny';
    const k = `${src}|${dst}`;
    let list = cells.get(k);
    if (!list) cells.set(k, (list = []));
    const what = describeEntry(e);
    if (!list.some((c) => c.what === what && c.verdict === verdict)) list.push({ what, verdict, encryptionRequired: !!e.encryptionRequired, policy: policyOf.get(e.ruleId) ?? null });
  }
  for (const list of cells.values()) list.sort((x, y) => x.what.localeCompare(y.what, 'en', { numeric: true }));
  return { segments: Object.keys(b.identities).sort(), cells };
}
