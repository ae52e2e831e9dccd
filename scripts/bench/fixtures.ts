// SPDX-License-Identifier: Apache-2.0
/**
 * Generations of a given size for benchmarks: the entries a real site would
 * have (segment CIDRs, device /32s, policy blocks between many identity
 * pairs), with one client->server allow that the measured traffic matches.
 */
import { IDENTITY, IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Generation } from '../../native/lib/datapath';

export const CLIENT_ID = 256;
export const SERVER_ID = 257;

export function benchGeneration(
  entries: number,
  opts: { client4: string; server4: string; client6?: string; server6?: string; hosts?: string[]; generation?: number },
): Generation {
  const ipcache: IpcacheEntry[] = [
    { cidr: opts.client4, identity: CLIENT_ID },
    { cidr: opts.server4, identity: SERVER_ID },
  ];
  if (opts.client6) ipcache.push({ cidr: opts.client6, identity: CLIENT_ID });
  if (opts.server6) ipcache.push({ cidr: opts.server6, identity: SERVER_ID });
  for (const h of opts.hosts ?? []) ipcache.push({ cidr: h, identity: IDENTITY.HOST });
  const policy: PolicyEntry[] = [];
  for (const protocol of [6, 17])
    policy.push({ srcIdentity: CLIENT_ID, dstIdentity: SERVER_ID, protocol, verdict: VERDICT.ALLOW, ruleId: 1 });
  policy.push({ srcIdentity: CLIENT_ID, dstIdentity: SERVER_ID, protocol: 1, port: 8 << 8, portPrefixLen: 8, verdict: VERDICT.ALLOW, ruleId: 2 });
  policy.push({ srcIdentity: CLIENT_ID, dstIdentity: SERVER_ID, protocol: 58, port: 128 << 8, portPrefixLen: 8, verdict: VERDICT.ALLOW, ruleId: 2 });
  // Filler: devices in 100.64.0.0/10 (never used by test traffic), each a
  // segment of its own, with policy entries towards the server segment.
  for (let i = 0; policy.length < entries; i++) {
    const id = 1000 + i;
    if (ipcache.length < entries) ipcache.push({ cidr: `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}/32`, identity: id });
    policy.push({
      srcIdentity: id,
      dstIdentity: i % 2 ? SERVER_ID : CLIENT_ID,
      protocol: 6,
      port: 1024 + (i % 60000),
      portPrefixLen: 16,
      verdict: i % 7 ? VERDICT.ALLOW : VERDICT.DENY,
      ruleId: 3 + (i % 200000),
    });
  }
  return { generation: opts.generation ?? 1, ipcache, policy: policy.slice(0, Math.max(entries, 4)) };
}
