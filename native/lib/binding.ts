// SPDX-License-Identifier: Apache-2.0
/** Loads the compiled addon; the only place that sees it untyped. */
import * as path from 'node:path';
import type { PackedEntries } from './abi';

export interface RawHandle {
  readonly adopted: boolean;
  readonly pinDir: string;
  attach(ifname: string, ingress: boolean, netns?: string): Promise<void>;
  detach(ifname: string, ingress: boolean, netns?: string): Promise<void>;
  applyGeneration(g: {
    hosts: PackedEntries;
    prefixes: PackedEntries;
    policy: PackedEntries;
    policyMasks: PackedEntries;
    generation: number;
    flags: number;
  }): Promise<{ epoch: number; durationNs: number }>;
  readState(): { epoch: number; generation: number; flags: number };
  setFlags(flags: number): void;
  dumpFlows(denied: boolean): Promise<Buffer>;
  dumpPairStats(): Buffer;
  dumpReasonStats(): Buffer;
  readRuleStats(ids: Uint32Array): Buffer;
  countEntries(map: string): number;
  suppressedEvents(): number;
  testRun(packet: Buffer, repeat: number, ingress: boolean): Promise<{ retval: number; durationNs: number }>;
  pollEvents(timeoutMs: number): Promise<Buffer>;
  unpin(): void;
  close(): void;
}

export interface RawOpenOptions {
  name: string;
  pinRoot?: string;
  ctTimeoutTcpSeconds?: number;
  ctTimeoutUdpSeconds?: number;
  ctTimeoutOtherSeconds?: number;
  eventRate?: number;
  eventBurst?: number;
  classifyPayload?: boolean;
}

export interface Binding {
  open(opts: RawOpenOptions): Promise<RawHandle>;
  abiSizes: Record<string, number>;
}

let cached: Binding | undefined;

export function binding(): Binding {
  if (!cached) {
    const file = path.resolve(__dirname, '..', 'build', 'Release', 'cordon_native.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require(file) as Binding;
    } catch (e) {
      throw new Error(`cannot load the native addon at ${file}: ${(e as Error).message} — run \`npm run build\` (or the README's setup) first`);
    }
  }
  return cached;
}
