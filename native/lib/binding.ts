// SPDX-License-Identifier: Apache-2.0
/** Loads the compiled addon; the only place that sees it untyped. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PackedEntries } from './encode';
import type { DatapathOptions } from './records';

export interface RawHandle {
  readonly adopted: boolean;
  readonly pinDir: string;
  /** Resolves with the XDP short-cut's state on ingress ("native", "off", "skipped: why"), "" on egress. */
  attach(ifname: string, ingress: boolean, netns?: string, xdp?: boolean): Promise<string>;
  detach(ifname: string, ingress: boolean, netns?: string): Promise<string>;
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
  dumpPairStats(): Promise<Buffer>;
  dumpReasonStats(): Buffer;
  readRuleStats(ids: Uint32Array): Promise<Buffer>;
  countEntries(map: string): Promise<number>;
  suppressedEvents(): number;
  linkLocalFrames(): { packets: number; bytes: number };
  writeEntries(map: 'cordon_fqdn' | 'cordon_dns', keys: Buffer, values: Buffer, count: number): void;
  deleteKeys(map: 'cordon_fqdn', keys: Buffer): number;
  dumpUserMap(map: 'cordon_fqdn' | 'cordon_dns'): Promise<Buffer>;
  /** hook: 0 tc egress, 1 tc ingress, 2 XDP. */
  testRun(packet: Buffer, repeat: number, hook: number): Promise<{ retval: number; durationNs: number }>;
  pollEvents(timeoutMs: number): Promise<Buffer>;
  unpin(): void;
  close(): void;
}

/** The addon takes the facade's options as they are. */
export type RawOpenOptions = DatapathOptions;

export interface Binding {
  open(opts: RawOpenOptions): Promise<RawHandle>;
  /** A read-only tap of the DHCP client messages ifname receives (native/src/dhcp_tap.h), in netns (a path) if given; the fd. */
  openDhcpTap(ifname: string, netns?: string): number;
  closeDhcpTap(fd: number): void;
  /** Records [u16 LE length][u8 fd index][u8 0][6 MAC][u16 LE ethertype][IP packet], each length counting from the index. */
  pollDhcpTaps(fds: number[], timeoutMs: number): Promise<Buffer>;
  abiSizes: Record<string, number>;
  /** Codes and flags of bpf/cordon.h, as compiled into the addon. */
  abiConstants: Record<string, number>;
}

let cached: Binding | undefined;

export function binding(): Binding {
  if (!cached) {
    // native/lib/ when run from sources, dist/native/lib/ when compiled: the
    // addon is built once, under native/build/, for both.
    const candidates = [
      path.resolve(__dirname, '..', 'build', 'Release', 'cordon_native.node'),
      path.resolve(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'cordon_native.node'),
    ];
    const file = candidates.find((f) => fs.existsSync(f));
    if (!file) throw new Error(`the native addon is not built (looked for ${candidates[0]}) — run \`npm run build\` (or the README's setup) first`);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require(file) as Binding;
    } catch (e) {
      throw new Error(`cannot load the native addon at ${file}: ${(e as Error).message} — run \`npm run build\` (or the README's setup) first`);
    }
  }
  return cached!;
}
