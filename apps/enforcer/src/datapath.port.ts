// SPDX-License-Identifier: Apache-2.0
/**
 * What the enforcer needs of the datapath: the part of native/lib/datapath.ts's
 * Datapath it uses. The real Datapath satisfies it; tests of ordering logic use
 * a recording implementation (never for claims about packets).
 */
import type { IpcacheEntry, PolicyEntry } from '../../../native/lib/abi';
import type { Direction, DropEvent, FlowRecord, PairStat, RawFlows } from '../../../native/lib/datapath';
import type { Logger } from 'pino';
import { bpffsWarning } from './bpffs-check';

export type { Direction, Verdict } from '../../../native/lib/datapath';

/**
 * A flow as the enforcer reads it: the facade's FlowRecord, where the payload
 * class and the bound MAC may be missing (recording datapaths leave them out).
 */
export type DatapathFlow = Omit<FlowRecord, 'tcpFlags' | 'policyPort' | 'flags' | 'dstMac' | 'encryption' | 'srcMac'> & {
  encryption?: string;
  srcMac?: string;
  /** ICMP: type << 8 | code of the message. */
  policyPort?: number;
};

export type DatapathPair = PairStat;

/** A drop (or audit) event from the datapath's ring buffer. */
export type DatapathEvent = DropEvent;

export interface DatapathPort {
  readonly adopted: boolean;
  /** opts.netns: the namespace file the interface lives in (the addon enters it on its worker thread). */
  /** On ingress the real datapath also attaches its XDP short-cut and says how (`xdp`: 'native', 'off', 'skipped: why'). */
  attach(ifname: string, direction: Direction, opts?: { netns?: string; xdp?: boolean }): Promise<{ xdp?: string } | void>;
  detach(ifname: string, direction: Direction, opts?: { netns?: string }): Promise<void>;
  /** linkLocalDrop: refuse 802.1X/EAPOL and LLDP frames (a datapath that predates it ignores it: they drop as non-IP). */
  applyGeneration(g: { generation: number; ipcache: readonly IpcacheEntry[]; policy: readonly PolicyEntry[]; auditAll?: boolean; linkLocalDrop?: boolean; nameSelectors?: boolean }): Promise<{ epoch: number; durationMs: number }>;
  state(): { epoch: number; generation: number; auditAll: boolean };
  flows(): Promise<DatapathFlow[]> | DatapathFlow[];
  /** Both flow tables undecoded (native/lib/abi.ts FLOW_ENTRY layout); the collector prefers it to flows(). */
  flowsRaw?(): Promise<RawFlows>;
  /** The real datapath reads pair counters and counts map entries on the addon's pool threads. */
  pairStats(): Promise<DatapathPair[]> | DatapathPair[];
  reasonStats(): Record<string, { packets: number; bytes: number }>;
  /** Packets and bytes counted per rule id (the policy hit counters); absent on recording datapaths. */
  ruleStats?(ids: readonly number[]): Promise<Map<number, { packets: number; bytes: number }>>;
  mapFill(): Promise<Record<string, { entries: number; max: number }>> | Record<string, { entries: number; max: number }>;
  /** Batches of drop/audit events (rate-limited in the kernel); returns a stop function. One subscriber. */
  onEvents?(cb: (events: DatapathEvent[]) => void, pollMs?: number): () => void;
  /** Events the kernel's rate limit held back, since load. */
  suppressedEvents?(): number;
  /** Link-local control frames (EAPOL, LLDP) passed since load; absent on a datapath that predates them. */
  linkLocalFrames?(): number;
  /** Leaves programs attached and maps pinned. */
  close(): void;
  /** Removes the pins (after detaching). */
  unpin(): void;
}

/** Opens the real datapath (the native addon is loaded only here, only when asked), saying first when its pins will not outlive the process. */
export async function openDatapath(name: string, pinRoot: string | undefined, log: Pick<Logger, 'warn'>): Promise<DatapathPort> {
  const pins = bpffsWarning(pinRoot);
  if (pins) log.warn({ pinsOutliveProcess: false }, pins);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Datapath } = require('../../../native/lib/datapath') as typeof import('../../../native/lib/datapath');
  return Datapath.open({ name, pinRoot });
}
